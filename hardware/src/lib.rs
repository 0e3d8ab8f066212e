#![deny(missing_docs)]
//! The one robot interface of Reflex.
//!
//! Every backend — the Rapier simulator, a ROS 2 bridge, a vendor SDK — implements [`Robot`].
//! Controllers and the runtime only ever see [`RobotState`] and [`JointCommand`]; they never see
//! a backend's own types. Simulator-only ground truth ([`GroundTruth`]) is a separate type that
//! only simulated backends produce, so a controller cannot silently depend on it.
//!
//! Real-time contract: [`Robot::read`] and [`Robot::write`] are called on the RT thread. They must
//! not allocate, lock or block; buffers are sized once by [`RobotState::new`] /
//! [`JointCommand::new`] from the [`RobotSpec`] and never resized.

pub mod catalogue;
mod command;
pub mod operator;
#[cfg(feature = "bridge")]
pub mod ros;
pub mod shapes;
mod spec;
mod state;
#[cfg(feature = "dds")]
pub mod unitree;

pub use command::JointCommand;
pub use operator::{monotonic_ns, OperatorInputs};
pub use spec::{JointLimits, RobotKind, RobotSpec};
pub use state::{roll_pitch_rad, EndEffectorState, GroundTruth, ImuState, JointStates, RobotState};

/// Spawns a named thread and returns once it runs: its name is then visible to the OS (Rust
/// names a thread from inside it), so the runtime can find and place it by name at once.
pub fn spawn_named<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _ = tx.send(());
            f()
        })?;
    let _ = rx.recv();
    Ok(h)
}

/// A hardware error. Carries only static data, so creating one on the RT thread never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HwError {
    /// The backend is not active (call [`Robot::activate`] first).
    #[error("robot backend is not active")]
    NotActive,
    /// A buffer handed to the backend does not match the robot's joint count.
    #[error("buffer holds {got} joints, robot has {expected}")]
    SizeMismatch {
        /// Joints the robot has.
        expected: usize,
        /// Joints in the buffer.
        got: usize,
    },
    /// No new sample arrived from the robot within its deadline.
    #[error("no new state from the robot within the cycle")]
    NoData,
    /// The backend's link to the robot failed.
    #[error("communication with the robot failed: {0}")]
    Comm(&'static str),
}

/// The contract between Reflex and a robot (real or simulated).
///
/// Lifecycle (not real-time, may allocate and block): [`Robot::spec`] is valid from construction;
/// [`Robot::activate`] arms the actuators; [`Robot::deactivate`] disarms them.
/// Real-time (the RT thread, every cycle): [`Robot::read`] then [`Robot::write`].
pub trait Robot: Send {
    /// Joint names, order and limits. Fixed for the backend's lifetime.
    fn spec(&self) -> &RobotSpec;

    /// Arms the actuators. Until then, [`Robot::write`] returns [`HwError::NotActive`].
    fn activate(&mut self) -> Result<(), HwError>;

    /// Disarms the actuators (motors passive or braked, backend-specific).
    fn deactivate(&mut self) -> Result<(), HwError>;

    /// The method called in the real-time loop: fills `out` with the newest robot state.
    /// Must not allocate, lock or block.
    fn read(&mut self, out: &mut RobotState) -> Result<(), HwError>;

    /// The method called in the real-time loop: sends `cmd` to the motor drivers.
    /// Must not allocate, lock or block.
    fn write(&mut self, cmd: &JointCommand) -> Result<(), HwError>;
}
