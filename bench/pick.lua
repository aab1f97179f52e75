-- wrk script for bench/scale.sh: GET paths from a list file, uniformly at random or in the order of a
-- precomputed sequence of indices (Zipf-1 samples, made by bench/scale.sh).
--   wrk ... -s bench/pick.lua URL -- PATHS_FILE [SEQUENCE_FILE]
local paths, seq = {}, nil
local n, i = 0, 0

function init(args)
    for line in io.lines(args[1]) do
        n = n + 1
        paths[n] = line
    end
    if args[2] then
        seq = {}
        for line in io.lines(args[2]) do
            seq[#seq + 1] = tonumber(line)
        end
        -- each wrk thread starts at its own place in the sequence
        i = math.random(#seq)
    end
    math.randomseed(os.time() + n + i)
end

function request()
    local k
    if seq then
        i = i % #seq + 1
        k = seq[i]
    else
        k = math.random(n)
    end
    return wrk.format("GET", paths[k])
end
