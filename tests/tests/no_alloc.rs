//! The RT cycle body allocates nothing: a counting global allocator watches every cycle.
//!
//! Only allocations made on the test's own thread while the counter is armed are counted, so
//! the harness's threads cannot disturb the figure. Physics stepping (the robot's stand-in) is
//! outside the window; everything `ControlLoop::cycle` does (robot read, controller, limit
//! clamp, robot write, histogram records, an injected stall, the supervisor and the certified
//! fallback through every mode) is inside.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::atomic::Ordering as AtomicOrdering;

use reflex_hardware::{JointCommand, RobotState};
use reflex_policies::{Controller, Tick};
use reflex_runtime::run;
use reflex_tests::{load_text, repo_root, shipped_text};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.with(|a| a.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.with(|a| a.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ARMED.with(|a| a.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counted<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    ARMED.with(|a| a.set(true));
    let out = f();
    ARMED.with(|a| a.set(false));
    (out, ALLOCATIONS.load(Ordering::Relaxed) - before)
}

/// The stand-up controller, with NaN commands injected on chosen cycles (a misbehaving policy).
struct NanOnCycles {
    inner: Box<dyn Controller>,
    cycles: [u64; 2],
}

impl Controller for NanOnCycles {
    fn reset(&mut self, s: &RobotState) {
        self.inner.reset(s)
    }
    fn update(&mut self, t: &Tick, s: &RobotState, c: &mut JointCommand) {
        self.inner.update(t, s, c);
        if self.cycles.contains(&t.cycle) {
            c.position_rad[3] = f64::NAN;
        }
    }
    fn phase(&self) -> &'static str {
        self.inner.phase()
    }
}

fn cycles_allocate(config: &str, cycles: u64, certified_fallback: bool) -> (u64, usize) {
    let mut text = shipped_text(config);
    if certified_fallback {
        let fb = repo_root().join("policies/models/a1_fallback/fallback.yaml");
        text = format!("{text}\nsafety:\n  fallback: {}\n", fb.display());
    }
    let cfg = load_text(config, &text);
    let sim = run::build_sim(&cfg).expect("sim");
    let primary = Box::new(NanOnCycles {
        inner: run::build_controller(&cfg, &sim).expect("controller"),
        cycles: [1000, 2600],
    });
    let mut l = run::simple_loop(&cfg, Some(primary)).expect("loop");
    let (estop, reset) = (l.estop_handle(), l.reset_handle());
    l.start().expect("start");
    let mut total = 0;
    for n in 0..cycles {
        // Faults and operator inputs between cycles (outside the counted window).
        match n {
            1200 | 2000 | 2500 | 3000 => reset.store(true, AtomicOrdering::Relaxed),
            1500 => l.robot_mut().set_sensor_dropout(true),
            1600 => l.robot_mut().set_sensor_dropout(false),
            1800 => estop.store(true, AtomicOrdering::Relaxed),
            1900 => estop.store(false, AtomicOrdering::Relaxed),
            _ => {}
        }
        let ((), n) = counted(|| l.cycle());
        total += n;
        l.robot_mut().step(cfg.physics_decimation());
    }
    assert_eq!(l.stats.cycles, cycles);
    (total, l.supervisor().transitions().count())
}

#[test]
fn rt_cycle_body_allocates_nothing() {
    // The counter works: an allocation inside the window is seen.
    let (_v, n) = counted(|| std::hint::black_box(vec![1u8; 16]));
    assert!(n >= 1, "counting allocator saw no allocation");

    // A1 stand-up, then NaN command → FALLBACK (certified MLP), reset, sensor dropout → FALLBACK,
    // e-stop → SAFE_STOP, reset, NaN again: every mode and transition, with an injected stall.
    let (allocs, transitions) = cycles_allocate("a1_stand.yaml", 3200, true);
    assert_eq!(allocs, 0, "A1 cycle allocated");
    // →F (NaN), →P (reset), →F (stale), →S (e-stop), →P (reset), →F (NaN), →P (reset).
    assert_eq!(transitions, 7, "the faults did not all fire");
    let (allocs, _) = cycles_allocate("a1_stand.yaml", 1200, false);
    assert_eq!(allocs, 0, "A1 cycle with the built-in fallback allocated");
    let (allocs, _) = cycles_allocate("panda_hold.yaml", 1200, false);
    assert_eq!(allocs, 0, "Panda cycle allocated");
}
