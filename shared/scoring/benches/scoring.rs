//! `cargo bench -p nps-scoring`: the two hot operations of aggregation.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nps_scoring::{Histogram, Score, Summary};

const SCORES: usize = 10_000_000;
const HISTOGRAMS: usize = 1_000_000;

/// A fixed pseudo-random stream (64-bit LCG), so every run folds the same data.
fn lcg(seed: u64) -> impl Iterator<Item = u64> {
    std::iter::successors(Some(seed), |x| Some(x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407)))
        .map(|x| x >> 33)
}

fn scores() -> Vec<Score> {
    lcg(7).take(SCORES).map(|r| Score::try_from((r % 11) as u8).expect("0..=10")).collect()
}

fn histograms() -> Vec<Histogram> {
    let mut rng = lcg(11);
    (0..HISTOGRAMS).map(|_| Histogram::from_counts(std::array::from_fn(|_| rng.next().unwrap_or(0) % 50))).collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("scoring");
    group.sample_size(20);

    let scores = scores();
    group.throughput(Throughput::Elements(SCORES as u64));
    group.bench_function("fold 10M scores", |b| b.iter(|| black_box(scores.iter().copied().collect::<Histogram>())));

    let histograms = histograms();
    group.throughput(Throughput::Elements(HISTOGRAMS as u64));
    group.bench_function("merge 1M histograms", |b| b.iter(|| black_box(histograms.iter().sum::<Histogram>())));

    let merged: Histogram = histograms.iter().sum();
    group.throughput(Throughput::Elements(1));
    group.bench_function("summary of one histogram", |b| b.iter(|| black_box(Summary::of(black_box(&merged)))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
