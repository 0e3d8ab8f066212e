//! The pure-Rust DDS transport (`ros2-client` on `rustdds`): speaks the ROS 2 wire protocol with
//! no ROS install. Its I/O thread waits on the subscriptions and on the RT thread's command
//! waker at once (`select!`), so neither direction is polled.

use std::net::Ipv4Addr;
use std::pin::pin;
use std::task::Poll;
use std::thread::JoinHandle;

use futures::{FutureExt, StreamExt};
use ros2_client::dds::rustdds::DomainParticipantBuilder;
use ros2_client::qos::{Durability, History, WhenFull};
use ros2_client::{Context, MessageTypeName, Name, Node, NodeName, NodeOptions, QosProfile};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::ros::bridge::IoSide;
use crate::ros::mapping::CommandMessage;
use crate::ros::msg::builtin_interfaces::Time;
use crate::ros::msg::diagnostic_msgs::DiagnosticArray;
use crate::ros::msg::geometry_msgs::WrenchStamped;
use crate::ros::msg::geometry_msgs::{Twist, TwistStamped};
use crate::ros::msg::nav_msgs::Odometry;
use crate::ros::msg::sensor_msgs::{Imu, JointState, Joy};
use crate::ros::msg::std_msgs::{Bool, Empty, Float64MultiArray};
use crate::ros::msg::trajectory_msgs::JointTrajectory;
use crate::ros::publishers::WriterGuid;
use crate::ros::teleop::{monotonic_ns, TeleopConfig, TeleopIo, TwistInput};
use crate::ros::{BridgeConfig, BridgeError};

fn err(what: &str, e: impl std::fmt::Debug) -> BridgeError {
    BridgeError::Transport(format!("{what}: {e:?}"))
}

/// Sensor data: best effort, keep last 5 (ROS `sensor_data` profile).
fn sensor_qos() -> QosProfile {
    QosProfile::default()
        .reliability_best_effort()
        .durability(Durability::Volatile)
        .history(History::KeepLast { depth: 5 })
}

/// Commands and diagnostics: reliable, keep last 10 (ROS default profile).
fn reliable_qos() -> QosProfile {
    QosProfile::publisher_default()
        .reliability_reliable(WhenFull::DEFAULT)
        .durability(Durability::Volatile)
        .history(History::KeepLast { depth: 10 })
}

/// Splits a fully qualified topic into (namespace, base name) for `ros2_client::Name`.
fn name(full: &str) -> Result<Name, BridgeError> {
    let (ns, base) = match full.rfind('/') {
        Some(0) => ("/", &full[1..]),
        Some(i) => (&full[..i], &full[i + 1..]),
        None => ("/", full),
    };
    Name::new(ns, base).map_err(|e| err(&format!("topic name `{full}`"), e))
}

fn subscribe<M: DeserializeOwned + 'static>(
    node: &mut Node,
    cfg: &BridgeConfig,
    topic: &str,
    pkg: &str,
    ty: &str,
) -> Result<ros2_client::Subscription<M>, BridgeError> {
    subscribe_with(node, cfg, topic, pkg, ty, &sensor_qos())
}

fn subscribe_with<M: DeserializeOwned + 'static>(
    node: &mut Node,
    cfg: &BridgeConfig,
    topic: &str,
    pkg: &str,
    ty: &str,
    qos: &QosProfile,
) -> Result<ros2_client::Subscription<M>, BridgeError> {
    let full = cfg.resolve(topic);
    let t = node
        .create_topic(&name(&full)?, MessageTypeName::new(pkg, ty), qos)
        .map_err(|e| err(&format!("topic {full}"), e))?;
    node.create_subscription::<M>(&t, None)
        .map_err(|e| err(&format!("subscription {full}"), e))
}

fn publisher<M: Serialize>(
    node: &mut Node,
    cfg: &BridgeConfig,
    topic: &str,
    pkg: &str,
    ty: &str,
) -> Result<ros2_client::Publisher<M>, BridgeError> {
    let full = cfg.resolve(topic);
    let t = node
        .create_topic(
            &name(&full)?,
            MessageTypeName::new(pkg, ty),
            &reliable_qos(),
        )
        .map_err(|e| err(&format!("topic {full}"), e))?;
    node.create_publisher::<M>(&t, None)
        .map_err(|e| err(&format!("publisher {full}"), e))
}

enum CommandPublisher {
    Array(ros2_client::Publisher<Float64MultiArray>),
    Trajectory(ros2_client::Publisher<JointTrajectory>),
}

/// A participant, context and node for `cfg`'s identity and domain.
fn node(cfg: &BridgeConfig) -> Result<(Context, Node), BridgeError> {
    let mut dpb = DomainParticipantBuilder::new(cfg.domain_id);
    if cfg.only_loopback {
        dpb = dpb.with_only_networks([Ipv4Addr::LOCALHOST]);
    }
    let dp = dpb.build().map_err(|e| err("DDS participant", e))?;
    let context = Context::from_domain_participant(dp).map_err(|e| err("ROS 2 context", e))?;
    let ns = if cfg.namespace.is_empty() {
        "/"
    } else {
        cfg.namespace.as_str()
    };
    let node_name = NodeName::new(ns, &cfg.node_name).map_err(|e| err("node name", e))?;
    let node = context
        .new_node(
            node_name,
            NodeOptions::new()
                .enable_rosout(false)
                .start_parameter_services(false),
        )
        .map_err(|e| err("ROS 2 node", e))?;
    Ok((context, node))
}

/// Creates the participant, node, topics and the I/O thread. Errors (no network, bad names)
/// are returned here, before the robot moves.
pub fn spawn(
    cfg: BridgeConfig,
    mut io: IoSide,
) -> Result<JoinHandle<Result<(), String>>, BridgeError> {
    let (context, mut node) = node(&cfg)?;
    let joint_states = subscribe::<JointState>(
        &mut node,
        &cfg,
        &cfg.joint_states_topic,
        "sensor_msgs",
        "JointState",
    )?;
    let imu = cfg
        .imu_topic
        .as_ref()
        .map(|t| subscribe::<Imu>(&mut node, &cfg, t, "sensor_msgs", "Imu"))
        .transpose()?;
    let odom = cfg
        .odometry_topic
        .as_ref()
        .map(|t| subscribe::<Odometry>(&mut node, &cfg, t, "nav_msgs", "Odometry"))
        .transpose()?;
    let wrench = cfg
        .wrench_topic
        .as_ref()
        .map(|t| subscribe::<WrenchStamped>(&mut node, &cfg, t, "geometry_msgs", "WrenchStamped"))
        .transpose()?;
    let command = match io_interface(&io) {
        true => CommandPublisher::Trajectory(publisher(
            &mut node,
            &cfg,
            &cfg.command_topic,
            "trajectory_msgs",
            "JointTrajectory",
        )?),
        false => CommandPublisher::Array(publisher(
            &mut node,
            &cfg,
            &cfg.command_topic,
            "std_msgs",
            "Float64MultiArray",
        )?),
    };
    let diagnostics = publisher::<DiagnosticArray>(
        &mut node,
        &cfg,
        &cfg.diagnostics_topic,
        "diagnostic_msgs",
        "DiagnosticArray",
    )?;
    let spinner = node.spinner().map_err(|e| err("ROS 2 spinner", e))?;
    crate::spawn_named("reflex-ros-spin", move || {
        futures::executor::block_on(spinner.spin())
    })
    .map_err(|e| err("spinner thread", e))?;

    let spin = std::time::Duration::from_micros(cfg.spin_for_command_us);
    crate::spawn_named("reflex-ros-io", move || -> Result<(), String> {
            let _keep = (&node, &context);
            futures::executor::block_on(async {
                let mut js = pin!(joint_states.async_stream());
                let mut imu_s = imu.as_ref().map(|s| Box::pin(s.async_stream()));
                let mut odom_s = odom.as_ref().map(|s| Box::pin(s.async_stream()));
                let mut wrench_s = wrench.as_ref().map(|s| Box::pin(s.async_stream()));
                loop {
                    let wake = io.command_or_stop();
                    // Optional inputs: a stream that is absent never yields.
                    let imu_next = async {
                        match imu_s.as_mut() {
                            Some(s) => s.next().await,
                            None => futures::future::pending().await,
                        }
                    };
                    let odom_next = async {
                        match odom_s.as_mut() {
                            Some(s) => s.next().await,
                            None => futures::future::pending().await,
                        }
                    };
                    let wrench_next = async {
                        match wrench_s.as_mut() {
                            Some(s) => s.next().await,
                            None => futures::future::pending().await,
                        }
                    };
                    futures::select_biased! {
                        m = js.next() => if let Some(Ok((m, info))) = m {
                            io.on_joint_state(&m, Some(writer(&info)));
                            // The RT thread answers a new state within tens of µs: wait for the
                            // command here briefly instead of paying a futex wake-up for it.
                            io.spin_for_command(spin);
                        },
                        m = imu_next.fuse() => if let Some(Ok((m, i))) = m { io.on_imu(&m, Some(writer(&i))) },
                        m = odom_next.fuse() => if let Some(Ok((m, i))) = m { io.on_odometry(&m, Some(writer(&i))) },
                        m = wrench_next.fuse() => if let Some(Ok((m, i))) = m { io.on_wrench(&m, Some(writer(&i))) },
                        _ = wake.fuse() => {},
                    }
                    // Whatever woke us, send what is due.
                    if let Some(c) = io.take_command() {
                        let r = match (&command, c) {
                            (CommandPublisher::Array(p), CommandMessage::Array(m)) => {
                                p.publish(m).map_err(|e| format!("{e:?}"))
                            }
                            (CommandPublisher::Trajectory(p), CommandMessage::Trajectory(m)) => {
                                p.publish(m).map_err(|e| format!("{e:?}"))
                            }
                            _ => Ok(()),
                        };
                        match r {
                            Ok(()) => io.published(),
                            Err(e) => eprintln!("[reflex] command publish failed: {e}"),
                        }
                    }
                    if let Some(d) = io.take_diagnostics() {
                        let _ = diagnostics.publish(d);
                    }
                    if io.stopping() {
                        return Ok(());
                    }
                }
            })
        })
        .map_err(|e| err("I/O thread", e))
}

/// The GUID of the writer that sent a sample (rustdds gives every sample its publication handle).
fn writer(info: &ros2_client::MessageInfo) -> WriterGuid {
    WriterGuid(info.publisher_gid().to_bytes16())
}

fn io_interface(io: &IoSide) -> bool {
    io.interface_is_trajectory()
}

/// What the teleop node's subscriptions deliver, as one stream.
enum TeleopInbound {
    Twist(Twist, Option<Time>),
    EeTwist(Twist, Option<Time>),
    Joy(Joy),
    Lock(bool),
    Reset,
}

type Inbound<'a> = std::pin::Pin<Box<dyn futures::Stream<Item = TeleopInbound> + Send + 'a>>;

/// A twist input's subscription: `Twist` or `TwistStamped`.
enum TwistSub {
    Plain(ros2_client::Subscription<Twist>),
    Stamped(ros2_client::Subscription<TwistStamped>),
}

impl TwistSub {
    fn new(node: &mut Node, cfg: &BridgeConfig, input: &TwistInput) -> Result<Self, BridgeError> {
        Ok(if input.stamped {
            TwistSub::Stamped(subscribe(
                node,
                cfg,
                &input.topic,
                "geometry_msgs",
                "TwistStamped",
            )?)
        } else {
            TwistSub::Plain(subscribe(
                node,
                cfg,
                &input.topic,
                "geometry_msgs",
                "Twist",
            )?)
        })
    }

    fn stream(&self, wrap: fn(Twist, Option<Time>) -> TeleopInbound) -> Inbound<'_> {
        match self {
            TwistSub::Plain(s) => Box::pin(
                s.async_stream()
                    .filter_map(move |m| async move { m.ok().map(|(m, _)| wrap(m, None)) }),
            ),
            TwistSub::Stamped(s) => Box::pin(s.async_stream().filter_map(move |m| async move {
                m.ok().map(|(m, _)| wrap(m.twist, Some(m.header.stamp)))
            })),
        }
    }
}

/// Starts a teleop node: its own participant, a subscription per configured input and an I/O
/// thread that validates each message into the teleop slots (and the operator inputs) until
/// the owner stops it. Lock and reset are subscribed reliable: an e-stop is never a best-effort
/// sample.
pub fn spawn_teleop(
    cfg: TeleopConfig,
    mut io: TeleopIo,
) -> Result<JoinHandle<Result<(), String>>, BridgeError> {
    let (context, mut node) = node(&cfg.node)?;
    let n = &cfg.node;
    let twist = cfg
        .twist
        .as_ref()
        .map(|t| TwistSub::new(&mut node, n, t))
        .transpose()?;
    let ee_twist = cfg
        .ee_twist
        .as_ref()
        .map(|t| TwistSub::new(&mut node, n, t))
        .transpose()?;
    let joy = cfg
        .joy
        .as_ref()
        .map(|j| subscribe::<Joy>(&mut node, n, &j.topic, "sensor_msgs", "Joy"))
        .transpose()?;
    let lock = cfg
        .lock
        .as_ref()
        .map(|l| {
            Ok::<_, BridgeError>((
                subscribe_with::<Bool>(
                    &mut node,
                    n,
                    &l.topic,
                    "std_msgs",
                    "Bool",
                    &reliable_qos(),
                )?,
                subscribe_with::<Empty>(
                    &mut node,
                    n,
                    &l.reset_topic,
                    "std_msgs",
                    "Empty",
                    &reliable_qos(),
                )?,
            ))
        })
        .transpose()?;
    let spinner = node.spinner().map_err(|e| err("ROS 2 spinner", e))?;
    crate::spawn_named("reflex-teleop-spin", move || {
        futures::executor::block_on(spinner.spin())
    })
    .map_err(|e| err("spinner thread", e))?;
    crate::spawn_named("reflex-teleop-io", move || -> Result<(), String> {
        let _keep = (&node, &context);
        let mut streams: Vec<Inbound<'_>> = Vec::new();
        if let Some(t) = &twist {
            streams.push(t.stream(TeleopInbound::Twist));
        }
        if let Some(t) = &ee_twist {
            streams.push(t.stream(TeleopInbound::EeTwist));
        }
        if let Some(j) = &joy {
            streams.push(Box::pin(j.async_stream().filter_map(|m| async move {
                m.ok().map(|(m, _)| TeleopInbound::Joy(m))
            })));
        }
        if let Some((l, r)) = &lock {
            streams.push(Box::pin(l.async_stream().filter_map(|m| async move {
                m.ok().map(|(m, _)| TeleopInbound::Lock(m.data))
            })));
            streams.push(Box::pin(
                r.async_stream()
                    .filter_map(|m| async move { m.ok().map(|_| TeleopInbound::Reset) }),
            ));
        }
        let mut inbound = futures::stream::select_all(streams);
        futures::executor::block_on(async {
            loop {
                let shared = io.shared.clone();
                let stop = futures::future::poll_fn(|cx| {
                    shared.waker.register(cx.waker());
                    if shared.stopping() {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                });
                futures::select_biased! {
                    _ = stop.fuse() => return Ok(()),
                    m = inbound.next() => {
                        let (now, sys) = (monotonic_ns(), crate::ros::system_time_ns());
                        match m {
                            Some(TeleopInbound::Twist(t, stamp)) => io.on_twist(&t, stamp.as_ref(), now, sys),
                            Some(TeleopInbound::EeTwist(t, stamp)) => io.on_ee_twist(&t, stamp.as_ref(), now, sys),
                            Some(TeleopInbound::Joy(j)) => io.on_joy(&j, now, sys),
                            Some(TeleopInbound::Lock(l)) => io.on_lock(l, now),
                            Some(TeleopInbound::Reset) => io.on_reset(now),
                            // No inputs at all: wait for the stop.
                            None => futures::future::pending::<()>().await,
                        }
                    },
                }
            }
        })
    })
    .map_err(|e| err("teleop I/O thread", e))
}
