//! `tinyufo-sim BUDGET_BYTES OBJECT_BYTES SEQUENCE_FILE`: replays a sequence of keys (one number a line,
//! bench/keys.py's Zipf-1 file) through a TinyUFO cache of BUDGET_BYTES holding objects of OBJECT_BYTES,
//! twice, and prints the hit ratio of the second replay (the cache warm, as after the bench's two passes).
//! A miss puts the object, as a cache fills on a miss.

use std::process::ExitCode;

use tinyufo::TinyUfo;

/// Weights are u16 in TinyUFO: count in KiB.
const UNIT: usize = 1024;

fn main() -> ExitCode {
    match run() {
        Ok(ratio) => {
            println!("{ratio:.3}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tinyufo-sim: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<f64, String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, budget, size, file] = args.as_slice() else {
        return Err("usage: tinyufo-sim BUDGET_BYTES OBJECT_BYTES SEQUENCE_FILE".into());
    };
    let budget: usize = budget
        .parse()
        .map_err(|e| format!("budget {budget}: {e}"))?;
    let size: usize = size
        .parse()
        .map_err(|e| format!("object size {size}: {e}"))?;
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let keys = text
        .lines()
        .map(|l| {
            l.trim()
                .parse::<u64>()
                .map_err(|e| format!("{file}: `{l}`: {e}"))
        })
        .collect::<Result<Vec<u64>, String>>()?;
    let weight =
        u16::try_from(size.div_ceil(UNIT).max(1)).map_err(|_| "object size above 64 MiB")?;
    let limit = budget / UNIT;
    let cache = TinyUfo::new(limit, limit / usize::from(weight) + 1);
    replay(&cache, &keys, weight);
    let hits = replay(&cache, &keys, weight);
    Ok(hits as f64 / keys.len().max(1) as f64)
}

/// One pass over the keys; the number of hits.
fn replay(cache: &TinyUfo<u64, ()>, keys: &[u64], weight: u16) -> usize {
    let mut hits = 0;
    for &k in keys {
        if cache.get(&k).is_some() {
            hits += 1;
        } else {
            cache.put(k, (), weight);
        }
    }
    hits
}
