"""Key lists for bench/scale.sh.

  python3 keys.py COUNT PATHS_FILE ZIPF_FILE [SAMPLES]

PATHS_FILE: COUNT paths of the origin's generated objects, /group1/M00/XX/YY/wNNNNNNN with XX/YY from a
hash of the number (random-looking keys spread over the directories, as FastDFS ids are), in a random
order (the order the caches are warmed in). ZIPF_FILE: SAMPLES (default 1,000,000) 1-based line numbers of
PATHS_FILE drawn from a Zipf distribution of exponent 1 over the COUNT keys, the popular keys scattered
over the file (wrk's bench/pick.lua walks this sequence).
"""
import bisect
import hashlib
import itertools
import random
import sys

count, paths_file, zipf_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
samples = int(sys.argv[4]) if len(sys.argv) > 4 else 1_000_000
rng = random.Random(14)


def path(n):
    h = hashlib.blake2b(b"%d" % n, digest_size=2).hexdigest().upper()
    return "/group1/M00/%s/%s/w%07d" % (h[:2], h[2:], n)


order = list(range(count))
rng.shuffle(order)
with open(paths_file, "w") as f:
    f.write("".join(path(n) + "\n" for n in order))
# rank r (1 = most popular) has weight 1/r; rank r is line lines[r-1] of the file
lines = list(range(1, count + 1))
rng.shuffle(lines)
cum = list(itertools.accumulate(1.0 / r for r in range(1, count + 1)))
total = cum[-1]
with open(zipf_file, "w") as f:
    f.write("".join("%d\n" % lines[bisect.bisect_left(cum, rng.random() * total)] for _ in range(samples)))
