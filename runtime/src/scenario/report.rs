//! The report people look at: one self-contained HTML file (inline SVG and one inline script for
//! the 3-D replays; nothing fetched from the network)
//! with the pass/fail table per scenario and variant, survival curves (push magnitude against
//! survival, the policy alone against the policy with the safety layer), histograms of the
//! cycle's compute time, and per-episode plots — base height, attitude, speed against the
//! command, joint tracking, torques against their limits, the supervisor's mode timeline with the
//! fault and push marked — for every failing episode and a few passing ones; the first failing
//! episodes and a passing one per variant also as a 3-D replay of the robot's collision shapes.

use std::fmt::Write as _;

use super::run::{EpisodeResult, EpisodeTiming, Summary};
use super::Variant;

/// A plotted series: name (the DOM's `data-series`), colour, (x, y) points.
type Series<'a> = (&'a str, &'a str, Vec<(f64, f64)>);

/// Passing episodes plotted per scenario and variant (every failing one is).
const PASSING_PLOTS: usize = 3;
/// Failing episodes plotted at most.
const FAILING_PLOTS: usize = 60;
/// Failing episodes with a 3-D replay per scenario (and the first passing one per variant).
const FAILING_REPLAYS: usize = 4;

/// The replay's drawing code: a perspective view that follows the base, the robot's collision
/// primitives as wireframes coloured by the supervisor's mode, a time slider and a play button.
const REPLAY_JS: &str = r#"(function(){
function rot(q,v){const x=q[0],y=q[1],z=q[2],w=q[3];const tx=2*(y*v[2]-z*v[1]),ty=2*(z*v[0]-x*v[2]),tz=2*(x*v[1]-y*v[0]);
return [v[0]+w*tx+(y*tz-z*ty),v[1]+w*ty+(z*tx-x*tz),v[2]+w*tz+(x*ty-y*tx)];}
function setup(cv){
const d=JSON.parse(document.getElementById(cv.dataset.src).textContent);
const ctx=cv.getContext('2d'),W=cv.width,H=cv.height,box=cv.parentNode;
const slider=box.querySelector('input'),play=box.querySelector('button'),label=box.querySelector('.replay-time');
slider.max=d.frames.length-1;cv.dataset.frames=d.frames.length;
const dir=[-0.55,-0.75,0.37],dist=1.9,focal=420,colors=['#1f77b4','#ff7f0e','#d62728'];
function draw(k){
const f=d.frames[k],c=[f[1],f[2],0.2],cam=[c[0]+dist*dir[0],c[1]+dist*dir[1],c[2]+dist*dir[2]];
const fw=[-dir[0],-dir[1],-dir[2]],rl=Math.hypot(fw[1],fw[0]),right=[fw[1]/rl,-fw[0]/rl,0];
const up=[right[1]*fw[2]-right[2]*fw[1],right[2]*fw[0]-right[0]*fw[2],right[0]*fw[1]-right[1]*fw[0]];
function P(p){const v=[p[0]-cam[0],p[1]-cam[1],p[2]-cam[2]];const z=Math.max(0.05,v[0]*fw[0]+v[1]*fw[1]+v[2]*fw[2]);
return [W/2+focal*(v[0]*right[0]+v[1]*right[1]+v[2]*right[2])/z,H/2-focal*(v[0]*up[0]+v[1]*up[1]+v[2]*up[2])/z,z];}
function line(a,b){const p=P(a),q=P(b);ctx.moveTo(p[0],p[1]);ctx.lineTo(q[0],q[1]);}
ctx.clearRect(0,0,W,H);ctx.strokeStyle='#ccc';ctx.lineWidth=1;ctx.beginPath();
const gx=Math.round(c[0]*4)/4,gy=Math.round(c[1]*4)/4;
for(let i=-6;i<=6;i++){line([gx+i/4,gy-1.5,0],[gx+i/4,gy+1.5,0]);line([gx-1.5,gy+i/4,0],[gx+1.5,gy+i/4,0]);}
ctx.stroke();ctx.strokeStyle=colors[f[4]|0]||'#000';ctx.lineWidth=1.4;ctx.beginPath();let drawn=0;
d.shapes.forEach(function(s,i){const o=5+7*i,pos=[f[o],f[o+1],f[o+2]],q=[f[o+3],f[o+4],f[o+5],f[o+6]];
function W2(v){const r=rot(q,v);return [pos[0]+r[0],pos[1]+r[1],pos[2]+r[2]];}
if(s[0]==='box'){const a=s[1]/2,b=s[2]/2,h=s[3]/2,cs=[];
for(const sx of [-a,a])for(const sy of [-b,b])for(const sz of [-h,h])cs.push(W2([sx,sy,sz]));
[[0,1],[2,3],[4,5],[6,7],[0,2],[1,3],[4,6],[5,7],[0,4],[1,5],[2,6],[3,7]].forEach(function(e){line(cs[e[0]],cs[e[1]]);});}
else if(s[0]==='cylinder'){const r=s[1],h=s[2]/2;let prev=null;
for(let j=0;j<=12;j++){const t=j/12*2*Math.PI,a=W2([r*Math.cos(t),r*Math.sin(t),-h]),b=W2([r*Math.cos(t),r*Math.sin(t),h]);
if(prev){line(prev[0],a);line(prev[1],b);}if(j%3===0)line(a,b);prev=[a,b];}}
else{const p=P(pos),rr=Math.max(1.5,focal*s[1]/p[2]);ctx.moveTo(p[0]+rr,p[1]);ctx.arc(p[0],p[1],rr,0,2*Math.PI);}
drawn++;});
ctx.stroke();cv.dataset.drawn=drawn;cv.dataset.frame=k;
label.textContent='t = '+f[0].toFixed(1)+' s, '+['POLICY','FALLBACK','SAFE_STOP'][f[4]|0];}
slider.oninput=function(){draw(+slider.value);};let timer=null;
play.onclick=function(){if(timer){clearInterval(timer);timer=null;return;}
timer=setInterval(function(){let k=+slider.value+1;if(k>=d.frames.length){clearInterval(timer);timer=null;return;}slider.value=k;draw(k);},100);};
draw(0);}
document.querySelectorAll('canvas.replay').forEach(setup);})();"#;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG panel: `series` as polylines in a `w`×`h` box, y from `lo` to `hi`, x from `x0` to `x1`.
#[allow(clippy::too_many_arguments)]
fn panel(
    out: &mut String,
    title: &str,
    unit: &str,
    series: &[Series],
    (x0, x1, x_unit): (f64, f64, &str),
    (lo, hi): (f64, f64),
    markers: &[(f64, &str)],
    (w, h): (f64, f64),
) {
    let sx = |x: f64| 40.0 + (x - x0) / (x1 - x0).max(1e-9) * (w - 50.0);
    let sy = |y: f64| 10.0 + (hi - y.clamp(lo, hi)) / (hi - lo).max(1e-9) * (h - 30.0);
    let _ = write!(
        out,
        r##"<svg class="panel" data-title="{t}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg"><rect x="40" y="10" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ccc"/><text x="42" y="22" font-size="11">{t}{u}</text><text x="2" y="16" font-size="9">{hi:.2}</text><text x="2" y="{yb}" font-size="9">{lo:.2}</text><text x="40" y="{xt}" font-size="9">{x0:.0}</text><text x="{xe}" y="{xt}" font-size="9">{x1:.0} {xu}</text>"##,
        t = esc(title),
        u = if unit.is_empty() {
            String::new()
        } else {
            format!(" ({})", esc(unit))
        },
        xu = esc(x_unit),
        pw = w - 50.0,
        ph = h - 30.0,
        yb = h - 20.0,
        xt = h - 6.0,
        xe = w - 40.0,
    );
    for (x, label) in markers {
        let _ = write!(
            out,
            r##"<line class="marker" x1="{px:.1}" x2="{px:.1}" y1="10" y2="{yb}" stroke="#d33" stroke-dasharray="3,2"/><text x="{tx:.1}" y="{ty}" font-size="9" fill="#d33">{l}</text>"##,
            px = sx(*x),
            tx = sx(*x) + 2.0,
            yb = h - 20.0,
            ty = h - 22.0,
            l = esc(label),
        );
    }
    for (name, color, pts) in series {
        let mut p = String::new();
        for (x, y) in pts {
            if x.is_finite() && y.is_finite() {
                let _ = write!(p, "{:.1},{:.1} ", sx(*x), sy(*y));
            }
        }
        let _ = write!(
            out,
            r##"<polyline class="series" data-series="{n}" data-points="{c}" fill="none" stroke="{color}" stroke-width="1.2" points="{p}"/>"##,
            n = esc(name),
            c = pts.len(),
        );
    }
    out.push_str("</svg>");
}

fn episode_id(r: &EpisodeResult) -> String {
    format!("ep-{}-{}-{}", r.scenario, r.variant.name(), r.episode)
}

/// The 3-D replay of `r`: its frames as JSON (t, base x, y, z, mode, then each primitive's
/// position and orientation) for [`REPLAY_JS`] to draw; nothing when the robot is unknown.
fn replay(out: &mut String, r: &EpisodeResult) {
    use reflex_hardware::shapes::{Pose, Primitive, ShapeTree};
    let Some(tree) =
        reflex_hardware::catalogue::model(&r.robot).and_then(|m| ShapeTree::of(m).ok())
    else {
        return;
    };
    let mut data = String::from(r#"{"shapes":["#);
    for (i, p) in tree.primitives().iter().enumerate() {
        let sep = if i > 0 { "," } else { "" };
        let _ = match p {
            Primitive::Box { size_m } => write!(
                data,
                r#"{sep}["box",{:.4},{:.4},{:.4}]"#,
                size_m[0], size_m[1], size_m[2]
            ),
            Primitive::Cylinder { radius_m, length_m } => {
                write!(data, r#"{sep}["cylinder",{radius_m:.4},{length_m:.4}]"#)
            }
            Primitive::Sphere { radius_m } => write!(data, r#"{sep}["sphere",{radius_m:.4}]"#),
        };
    }
    data.push_str(r#"],"frames":["#);
    for (i, (row, pose)) in r.trace.iter().zip(&r.poses).enumerate() {
        if pose.len() < 7 {
            continue;
        }
        let f = |k: usize| f64::from(pose[k]);
        let base = Pose {
            position_m: [f(0), f(1), f(2)],
            orientation_xyzw: [f(3), f(4), f(5), f(6)],
        };
        let q: Vec<f64> = pose[7..].iter().map(|x| f64::from(*x)).collect();
        let _ = write!(
            data,
            "{}[{:.2},{:.4},{:.4},{:.4},{}",
            if i > 0 { "," } else { "" },
            row[0],
            f(0),
            f(1),
            f(2),
            row[6]
        );
        for p in tree.pose(&base, &q) {
            let (x, o) = (p.position_m, p.orientation_xyzw);
            let _ = write!(
                data,
                ",{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4}",
                x[0], x[1], x[2], o[0], o[1], o[2], o[3]
            );
        }
        data.push(']');
    }
    data.push_str("]}");
    let id = format!("replay-{}", episode_id(r));
    let _ = write!(
        out,
        r#"<div class="replay-box"><h4>3-D replay (collision shapes; colour: POLICY blue, FALLBACK orange, SAFE_STOP red)</h4><canvas class="replay" width="560" height="320" data-src="{id}"></canvas><br><button>play / pause</button> <input type="range" min="0" value="0" style="width:420px"> <span class="replay-time"></span><script type="application/json" id="{id}">{data}</script></div>"#,
        id = esc(&id),
    );
}

fn episode_plots(out: &mut String, r: &EpisodeResult, with_replay: bool) {
    let _ = write!(
        out,
        r#"<section class="episode" id="{id}"><h3>{s} / {v} / episode {k} — {verdict}</h3><p class="params">{params}</p>"#,
        id = esc(&episode_id(r)),
        s = esc(&r.scenario),
        v = r.variant.name(),
        k = r.episode,
        verdict = if r.passed {
            "passed".to_string()
        } else {
            format!("FAILED: {}", esc(&r.failures.join("; ")))
        },
        params = esc(&format!(
            "seed {}, mass ×{:.3}, payload {:.2} kg, friction {:.2}, motors ×{:.3}, gains ×{:.3}, offsets ±{:.3} rad, IMU latency {} cycles, action delay {} cycles, inference {} cycles, terrain steps ≤ {:.3} m{}{}",
            r.params.seed,
            r.params.mass_scale,
            r.params.payload_kg,
            r.params.friction,
            r.params.motor_strength,
            r.params.gain_scale,
            r.params.max_joint_offset_rad,
            r.params.imu_latency_cycles,
            r.params.action_delay_cycles,
            r.params.policy_latency_cycles,
            r.params.rough_terrain_m,
            r.params
                .push
                .map(|(t, _, m)| format!(", push {m:.0} N at {t:.2} s"))
                .unwrap_or_default(),
            r.params
                .fault
                .as_ref()
                .map(|(k, t)| format!(", {k} at {t} s"))
                .unwrap_or_default(),
        )),
    );
    let t1 = r.trace.last().map_or(1.0, |row| row[0]);
    let col =
        |i: usize| -> Vec<(f64, f64)> { r.trace.iter().map(|row| (row[0], row[i])).collect() };
    let mut markers: Vec<(f64, String)> = Vec::new();
    if let Some((t, _, m)) = r.params.push {
        markers.push((t, format!("push {m:.0} N")));
    }
    if let Some((k, t)) = &r.params.fault {
        markers.push((*t, k.clone()));
    }
    for (t, to, cause) in &r.transitions {
        markers.push((*t, format!("→{} ({cause})", to.name())));
    }
    let m: Vec<(f64, &str)> = markers.iter().map(|(t, l)| (*t, l.as_str())).collect();
    let size = (560.0, 150.0);
    panel(
        out,
        "base height",
        "m",
        &[("height", "#1f77b4", col(1))],
        (0.0, t1, "s"),
        (0.0, 0.45),
        &m,
        size,
    );
    panel(
        out,
        "attitude",
        "rad",
        &[("roll", "#2ca02c", col(2)), ("pitch", "#9467bd", col(3))],
        (0.0, t1, "s"),
        (-1.0, 1.0),
        &m,
        size,
    );
    panel(
        out,
        "forward speed vs command",
        "m/s",
        &[("speed", "#ff7f0e", col(4)), ("command", "#555", col(5))],
        (0.0, t1, "s"),
        (-0.5, 1.5),
        &m,
        size,
    );
    let track_hi = r
        .trace
        .iter()
        .map(|row| row[7])
        .fold(0.1, f64::max)
        .min(3.0);
    panel(
        out,
        "joint tracking: largest |q* − q| per 0.1 s",
        "rad",
        &[("tracking", "#17becf", col(7))],
        (0.0, t1, "s"),
        (0.0, track_hi),
        &m,
        size,
    );
    panel(
        out,
        "torque against limits: largest |τ| / effort limit per 0.1 s (1 = at the limit)",
        "",
        &[
            ("torque", "#8c564b", col(8)),
            ("limit", "#d33", vec![(0.0, 1.0), (t1, 1.0)]),
        ],
        (0.0, t1, "s"),
        (0.0, 1.2),
        &m,
        size,
    );
    panel(
        out,
        "mode (0 POLICY, 1 FALLBACK, 2 SAFE_STOP)",
        "",
        &[("mode", "#d62728", col(6))],
        (0.0, t1, "s"),
        (0.0, 2.0),
        &m,
        (560.0, 90.0),
    );
    if with_replay {
        replay(out, r);
    }
    out.push_str("</section>");
}

fn survival_chart(out: &mut String, name: &str, s: &Summary) {
    let Some(vs) = s.scenarios.get(name) else {
        return;
    };
    let max_f = vs
        .values()
        .flat_map(|v| v.survival.iter().map(|b| b.0))
        .fold(0.0, f64::max);
    if max_f <= 0.0 {
        return;
    }
    let series: Vec<Series> = vs
        .iter()
        .map(|(v, sum)| {
            (
                v.name(),
                if *v == Variant::WithSafety {
                    "#1f77b4"
                } else {
                    "#d62728"
                },
                sum.survival
                    .iter()
                    .map(|(b, n, ok)| (*b, *ok as f64 / (*n).max(1) as f64))
                    .collect(),
            )
        })
        .collect();
    let _ = write!(
        out,
        r#"<h3>Survival against push magnitude</h3><p>{}</p>"#,
        vs.iter()
            .map(|(v, sum)| format!(
                "{}: 50 % survival at {}",
                v.name(),
                sum.push_at_half_survival_n
                    .map_or("— (not crossed)".into(), |f| format!("{f:.0} N"))
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    out.push_str(r#"<div class="survival">"#);
    panel(
        out,
        "survival rate against push magnitude (bin upper edge)",
        "",
        &series,
        (0.0, max_f, "N"),
        (0.0, 1.0),
        &[],
        (560.0, 220.0),
    );
    out.push_str("</div>");
}

/// A bar chart of `values` in `bins` equal bins from 0 to their maximum.
fn histogram(out: &mut String, title: &str, name: &str, values: &[f64], bins: usize) {
    let hi = values.iter().copied().fold(0.0, f64::max).max(1e-9);
    let mut counts = vec![0u64; bins];
    for v in values {
        counts[((v / hi * bins as f64) as usize).min(bins - 1)] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let (w, h) = (560.0, 150.0);
    let bw = (w - 50.0) / bins as f64;
    let _ = write!(
        out,
        r##"<svg class="histogram" data-series="{n}" data-points="{c}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg"><rect x="40" y="10" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ccc"/><text x="42" y="22" font-size="11">{t}</text><text x="2" y="16" font-size="9">{top}</text><text x="40" y="{xt}" font-size="9">0</text><text x="{xe}" y="{xt}" font-size="9">{hi:.1} µs</text>"##,
        n = esc(name),
        c = values.len(),
        t = esc(title),
        pw = w - 50.0,
        ph = h - 30.0,
        xt = h - 6.0,
        xe = w - 60.0,
    );
    for (i, c) in counts.iter().enumerate() {
        let bh = *c as f64 / top * (h - 30.0);
        let _ = write!(
            out,
            r##"<rect x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{bh:.1}" fill="#1f77b4"/>"##,
            x = 40.0 + i as f64 * bw,
            y = h - 20.0 - bh,
            bw = (bw - 1.0).max(0.5),
        );
    }
    out.push_str("</svg>");
}

/// Timing of the run on the machine that ran it: the cycle's compute time per episode.
fn timing_section(out: &mut String, timing: &[EpisodeTiming]) {
    if timing.is_empty() {
        return;
    }
    let p99: Vec<f64> = timing.iter().map(|t| t.compute_us.p99).collect();
    let max: Vec<f64> = timing.iter().map(|t| t.compute_us.max).collect();
    let physics: Vec<f64> = timing.iter().map(|t| t.physics_us.p50).collect();
    let worst = max.iter().copied().fold(0.0, f64::max);
    let _ = write!(
        out,
        r#"<h2>Timing</h2><p>The control cycle's compute time (physics excluded) on the machine that ran the suite, {} episodes; the worst cycle took {worst:.1} µs. Timing is the machine's, not the episode's: it is kept apart from the results (<code>timing.jsonl</code>).</p>"#,
        timing.len()
    );
    histogram(out, "per-episode p99 compute time", "compute_p99", &p99, 30);
    histogram(
        out,
        "per-episode worst compute time",
        "compute_max",
        &max,
        30,
    );
    histogram(
        out,
        "per-episode median physics step",
        "physics_p50",
        &physics,
        30,
    );
}

/// The HTML page for `results`, their `timing` (may be empty) and their `summary`.
pub fn html(
    title: &str,
    results: &[EpisodeResult],
    timing: &[EpisodeTiming],
    summary: &Summary,
) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<!doctype html><html><head><meta charset="utf-8"><title>{t}</title><style>body{{font-family:sans-serif;margin:20px;max-width:1200px}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}.fail{{color:#b00}}.episode{{border-top:1px solid #ddd;margin-top:12px}}.params{{font-size:12px;color:#444}}</style></head><body><h1>{t}</h1>"#,
        t = esc(title)
    );
    out.push_str(r#"<h2>Pass rates</h2><table id="summary"><tr><th>scenario</th><th>variant</th><th>episodes</th><th>passed</th><th>pass rate</th><th>fell</th><th>failures</th></tr>"#);
    for (name, vs) in &summary.scenarios {
        for (v, s) in vs {
            let _ = write!(
                out,
                r#"<tr class="row" data-scenario="{n}" data-variant="{v}" data-pass-rate="{r:.4}"><td>{n}</td><td>{v}</td><td>{e}</td><td>{p}</td><td>{pr:.1} %</td><td>{f}</td><td>{fl}</td></tr>"#,
                n = esc(name),
                v = v.name(),
                r = s.pass_rate,
                e = s.episodes,
                p = s.passed,
                pr = s.pass_rate * 100.0,
                f = s.fell,
                fl = esc(&s
                    .failures
                    .iter()
                    .map(|(k, n)| format!("{k}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")),
            );
        }
    }
    out.push_str("</table>");
    timing_section(&mut out, timing);
    for name in summary.scenarios.keys() {
        let _ = write!(out, "<h2>{}</h2>", esc(name));
        survival_chart(&mut out, name, summary);
        let failing: Vec<&EpisodeResult> = results
            .iter()
            .filter(|r| &r.scenario == name && !r.passed)
            .collect();
        if !failing.is_empty() {
            out.push_str(r#"<h3>Failing episodes</h3><table class="failing"><tr><th>variant</th><th>episode</th><th>seed</th><th>why</th></tr>"#);
            for r in &failing {
                let _ = write!(
                    out,
                    r##"<tr class="fail"><td>{v}</td><td><a href="#{id}">{k}</a></td><td>{seed}</td><td>{why}</td></tr>"##,
                    v = r.variant.name(),
                    id = esc(&episode_id(r)),
                    k = r.episode,
                    seed = r.params.seed,
                    why = esc(&r.failures.join("; ")),
                );
            }
            out.push_str("</table>");
        }
        let mut shown = 0;
        for (i, r) in failing.iter().take(FAILING_PLOTS).enumerate() {
            episode_plots(&mut out, r, i < FAILING_REPLAYS);
            shown += 1;
        }
        for v in [Variant::WithSafety, Variant::PolicyAlone] {
            let passing = results
                .iter()
                .filter(|r| &r.scenario == name && r.variant == v && r.passed);
            for (i, r) in passing.take(PASSING_PLOTS).enumerate() {
                episode_plots(&mut out, r, i == 0);
                shown += 1;
            }
        }
        let _ = write!(out, r#"<p class="shown">{shown} episodes plotted.</p>"#);
    }
    let _ = write!(out, "<script>{REPLAY_JS}</script>");
    out.push_str("</body></html>\n");
    out
}
