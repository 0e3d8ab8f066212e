#![deny(missing_docs)]
//! The Reflex runtime: configuration, the real-time loop and the run driver behind the
//! `reflex` command.
//!
//! A run: [`config::load`] → [`driver::run`], which builds everything ([`assemble`]), wraps the
//! backend with the fault schedule ([`faults`]), and runs [`control_loop::ControlLoop::cycle`] on
//! the RT thread under a [`driver::scheduler::Scheduler`], with the policy on its own thread
//! ([`policy_thread`]) and the [`supervisor`] deciding who commands. Tools (recording, fallback
//! fitting, benchmarks) run through the same driver with observers.

pub mod alloc_count;
pub mod assemble;
pub mod bench;
pub mod config;
pub mod control_loop;
pub mod driver;
pub mod fallback_tools;
pub mod faults;
pub mod plant;
pub mod policy_thread;
pub mod record;
pub mod ros_args;
pub mod rt;
pub mod scenario;
pub mod stats;
pub mod supervisor;
pub mod threads;
