-- bench/images.sh: every request for another name of the same original, so that no answer can come from a
-- cache. wrk -s images-fresh.lua URL -- PREFIX FIRST QUERY asks for PREFIX-K.jpg?QUERY, K = FIRST, FIRST+1, …
-- (the servers rewrite PREFIX-K.jpg to PREFIX.jpg).
local prefix, k, query

function init(args)
    prefix, k, query = args[1], tonumber(args[2]), args[3]
end

function request()
    k = k + 1
    return wrk.format("GET", string.format("%s-%d.jpg?%s", prefix, k, query))
end
