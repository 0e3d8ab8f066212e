//! The RT cycle body allocates nothing: a counting global allocator watches every cycle.
//!
//! Only allocations made on the test's own thread while the counter is armed are counted, so
//! the harness's threads cannot disturb the figure. Physics stepping (the robot's stand-in) is
//! outside the window; everything `ControlLoop::cycle` does (robot read, controller, limit
//! clamp, robot write, histogram records, an injected stall) is inside.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use reflex_runtime::control_loop::{ControlLoop, InjectedStall};
use reflex_runtime::run;
use reflex_tests::{load_text, shipped_text};

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

fn cycles_allocate(config: &str, cycles: u64) -> u64 {
    let cfg = load_text(config, &shipped_text(config));
    let sim = run::build_sim(&cfg).expect("sim");
    let controller = run::build_controller(&cfg, &sim).expect("controller");
    let stall = InjectedStall {
        cycle: 100,
        duration_ns: 200_000,
    };
    let mut l = ControlLoop::new(
        sim,
        controller,
        cfg.config.rates.control_hz,
        cfg.policy_decimation(),
        vec![stall],
    );
    l.start().expect("start");
    let mut total = 0;
    for _ in 0..cycles {
        let ((), n) = counted(|| l.cycle());
        total += n;
        l.robot_mut().step(cfg.physics_decimation());
    }
    assert_eq!(l.stats.cycles, cycles);
    total
}

#[test]
fn rt_cycle_body_allocates_nothing() {
    // The counter works: an allocation inside the window is seen.
    let (_v, n) = counted(|| std::hint::black_box(vec![1u8; 16]));
    assert!(n >= 1, "counting allocator saw no allocation");

    // A1 stand-up (through the interpolation and into the hold), Panda hold.
    assert_eq!(
        cycles_allocate("a1_stand.yaml", 1500),
        0,
        "A1 cycle allocated"
    );
    assert_eq!(
        cycles_allocate("panda_hold.yaml", 500),
        0,
        "Panda cycle allocated"
    );
}
