//! Metric collection at export: every series of every instrument, summed over its shards, as
//! points; and the observable gauges' callbacks (run on the observer thread, `observe.rs`) and
//! their points.

use crate::engine::metrics::histogram::{DEFAULT_BOUNDS, HistAcc};
use crate::engine::metrics::{Cells, INSTRUMENTS, Instrument, Kind, Observer, Series};
use crate::engine::record::{Corrupt, Dec};
use crate::export::view::{Attr, HistPoint, Num, PointData, PointView};
use std::collections::HashMap;
use std::sync::atomic::Ordering;

/// Decodes an observation's attributes (encoded as a record's key-values by `Observer`).
fn decode_attrs<'a>(bytes: &'a [u8], into: &mut Vec<Attr<'a>>) -> Result<(), Corrupt> {
    let mut d = Dec::new(bytes);
    let n = d.u16()?;
    for _ in 0..n {
        d.kv_into(into)?;
    }
    Ok(())
}

/// A point of `inst`.
fn view<'a>(
    inst: &'a Instrument,
    start: u64,
    time: u64,
    attrs: &'a [Attr<'a>],
    data: PointData<'a>,
) -> PointView<'a> {
    PointView {
        scope: inst.scope,
        name: &inst.name,
        description: &inst.description,
        unit: &inst.unit,
        start,
        time,
        attrs,
        data,
    }
}

/// Calls `emit` with every metric point (cumulative since `start`) but those of observable
/// gauges ([`observe_all`], [`observed`]). Writer thread only.
pub(crate) fn collect(
    start: u64,
    now: u64,
    acc: &mut HistAcc,
    emit: &mut dyn FnMut(&PointView<'_>),
) {
    let instruments: Vec<&'static Instrument> = INSTRUMENTS.read().clone();
    let mut hp = HistPoint {
        bounds: &DEFAULT_BOUNDS,
        ..HistPoint::default()
    };
    for inst in instruments {
        let point =
            |attrs: &[Attr<'_>], data: PointData<'_>, emit: &mut dyn FnMut(&PointView<'_>)| {
                emit(&view(inst, start, now, attrs, data))
            };
        if inst.kind == Kind::ObservableGauge {
            // Their callbacks run on the observer thread (`observe.rs`); see `observed`.
            continue;
        }
        let series: Vec<&'static Series> = inst.list.lock().clone();
        for s in series {
            match (&s.cells, inst.kind) {
                (Cells::Sum(_), Kind::Counter) => point(
                    &s.view,
                    PointData::Sum {
                        monotonic: true,
                        value: Num::U(s.sum()),
                    },
                    emit,
                ),
                (Cells::Sum(_), _) => point(
                    &s.view,
                    PointData::Sum {
                        monotonic: false,
                        value: Num::I(s.sum_signed()),
                    },
                    emit,
                ),
                (Cells::Gauge { bits, set }, _) => {
                    if set.load(Ordering::Acquire) {
                        point(
                            &s.view,
                            PointData::Gauge(Num::F(f64::from_bits(bits.load(Ordering::Relaxed)))),
                            emit,
                        );
                    }
                }
                (Cells::Histogram(shards), _) => {
                    acc.reset();
                    for sh in shards.iter() {
                        sh.add_into(acc);
                    }
                    hp.count = acc.count;
                    hp.sum = acc.sum;
                    hp.min = acc.min;
                    hp.max = acc.max;
                    hp.percentiles = [
                        acc.quantile(0.5),
                        acc.quantile(0.9),
                        acc.quantile(0.99),
                        acc.quantile(0.999),
                    ];
                    hp.bucket_counts.clear();
                    hp.bucket_counts.extend_from_slice(&acc.explicit);
                    (hp.exp_zero, hp.exp_offset) = acc.exponential(&mut hp.exp_counts);
                    point(&s.view, PointData::Histogram(&hp), emit);
                }
            }
        }
    }
}

/// What one run of the observable gauges' callbacks reported, per instrument.
pub(crate) type Observations = Vec<(&'static Instrument, Observer)>;

/// Runs every observable gauge's callbacks (on the observer thread). A callback that panics is
/// reported on stderr; what it observed before the panic is kept.
pub(crate) fn observe_all() -> Observations {
    let instruments: Vec<&'static Instrument> = INSTRUMENTS
        .read()
        .iter()
        .copied()
        .filter(|i| i.kind == Kind::ObservableGauge)
        .collect();
    let mut all = Vec::with_capacity(instruments.len());
    for inst in instruments {
        let mut obs = Observer::default();
        for cb in inst.callbacks.read().iter() {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&mut obs)));
            if r.is_err() {
                diag!(
                    "mini-telemetry: the callback of observable gauge {:?} panicked",
                    inst.name
                );
            }
        }
        all.push((inst, obs));
    }
    all
}

/// Calls `emit` with the points of one run of the callbacks: one per instrument and attribute
/// set, the last value observed for it. Writer thread.
pub(crate) fn observed(
    start: u64,
    now: u64,
    runs: &Observations,
    emit: &mut dyn FnMut(&PointView<'_>),
) {
    for (inst, obs) in runs {
        let mut last: HashMap<&[u8], usize> = HashMap::new();
        for (i, (_, enc)) in obs.points.iter().enumerate() {
            last.insert(enc, i);
        }
        for (i, (v, enc)) in obs.points.iter().enumerate() {
            if last.get(enc.as_slice()) != Some(&i) {
                continue;
            }
            let mut attrs = Vec::new();
            if decode_attrs(enc, &mut attrs).is_ok() {
                emit(&view(
                    inst,
                    start,
                    now,
                    &attrs,
                    PointData::Gauge(Num::F(*v)),
                ));
            }
        }
    }
}
