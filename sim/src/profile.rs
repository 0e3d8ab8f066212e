//! Where a physics step's time goes: Rapier's own stage counters (its `profiler` feature), summed
//! over the steps since profiling was switched on, beside Reflex's wrapper around the step (the
//! motor drivers before it, the IMU after it). Read by `reflex bench sim`.

use rapier3d::counters::Counters;

/// Time per stage, summed over `steps` physics steps (ns).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhysicsProfile {
    /// Steps profiled.
    pub steps: u64,
    /// The whole step, Reflex's wrapper included.
    pub total_ns: u64,
    /// Rapier's `PhysicsWorld::step` alone.
    pub rapier_ns: u64,
    /// Updating bodies' kinematics and dynamics (Rapier's `update_time`).
    pub update_ns: u64,
    /// Broad and narrow phase.
    pub collision_detection_ns: u64,
    /// Islands and activation.
    pub island_ns: u64,
    /// Solver-facing structures for the pairs that changed.
    pub constraints_collection_ns: u64,
    /// The whole solver (assembly, resolution, integration).
    pub solver_ns: u64,
    /// Assembling the velocity constraints (the multibody mass matrix and its factorisation).
    pub velocity_assembly_ns: u64,
    /// Resolving the constraints (PGS).
    pub velocity_resolution_ns: u64,
    /// Updating the bodies' velocities.
    pub velocity_update_ns: u64,
    /// Continuous collision detection.
    pub ccd_ns: u64,
    /// Propagating user changes (forces, poses set between steps).
    pub user_changes_ns: u64,
    /// Contact points handed to the solver, summed.
    pub contacts: u64,
}

fn ns(d: std::time::Duration) -> u64 {
    d.as_nanos() as u64
}

impl PhysicsProfile {
    /// Adds the step Rapier's `counters` describe, which took `total_ns` with Reflex's wrapper.
    pub(crate) fn add(&mut self, c: &Counters, total_ns: u64) {
        self.steps += 1;
        self.total_ns += total_ns;
        self.rapier_ns += ns(c.step_time.time());
        self.update_ns += ns(c.stages.update_time.time());
        self.collision_detection_ns += ns(c.stages.collision_detection_time.time());
        self.island_ns += ns(c.stages.island_construction_time.time());
        self.constraints_collection_ns += ns(c.stages.island_constraints_collection_time.time());
        self.solver_ns += ns(c.stages.solver_time.time());
        self.velocity_assembly_ns += ns(c.solver.velocity_assembly_time.time());
        self.velocity_resolution_ns += ns(c.solver.velocity_resolution_time.time());
        self.velocity_update_ns += ns(c.solver.velocity_update_time.time());
        self.ccd_ns += ns(c.stages.ccd_time.time());
        self.user_changes_ns += ns(c.stages.user_changes.time());
        self.contacts += c.solver.ncontacts as u64;
    }

    /// Mean µs per step of each stage, named; the solver's parts indented under it.
    pub fn per_step_us(&self) -> Vec<(&'static str, f64)> {
        let per = |v: u64| v as f64 / 1e3 / self.steps.max(1) as f64;
        vec![
            ("step (all)", per(self.total_ns)),
            (
                "Reflex's motor drivers and IMU",
                per(self.total_ns.saturating_sub(self.rapier_ns)),
            ),
            ("rapier step", per(self.rapier_ns)),
            ("  user changes", per(self.user_changes_ns)),
            ("  body update", per(self.update_ns)),
            ("  collision detection", per(self.collision_detection_ns)),
            ("  islands", per(self.island_ns)),
            (
                "  constraint collection",
                per(self.constraints_collection_ns),
            ),
            ("  solver", per(self.solver_ns)),
            ("    velocity assembly", per(self.velocity_assembly_ns)),
            ("    velocity resolution", per(self.velocity_resolution_ns)),
            ("    velocity update", per(self.velocity_update_ns)),
            ("  ccd", per(self.ccd_ns)),
        ]
    }

    /// Mean contact points per step.
    pub fn contacts_per_step(&self) -> f64 {
        self.contacts as f64 / self.steps.max(1) as f64
    }
}
