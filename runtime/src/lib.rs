#![warn(missing_docs)]
//! The Reflex runtime: configuration, the real-time loop and the run driver behind the
//! `reflex` command.
//!
//! Threads: the RT thread runs [`control_loop::ControlLoop::cycle`] at the control rate on
//! absolute deadlines (and steps the simulator, when that is the backend, outside the measured
//! cycle body); the main thread only starts it, shows progress and writes the report.

pub mod alloc_count;
pub mod bench;
pub mod config;
pub mod control_loop;
pub mod fallback_tools;
pub mod plant;
pub mod policy_thread;
pub mod record;
pub mod ros_args;
pub mod rt;
pub mod run;
pub mod stats;
pub mod supervisor;
