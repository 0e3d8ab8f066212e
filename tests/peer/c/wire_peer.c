/* The wire benchmark's robot at C speed, on Cyclone DDS's C library (Debian's cyclonedds-dev),
 * so that `reflex bench wire` measures Reflex and not a Python peer.
 *
 *   wire_peer robot SECONDS RATE_HZ OUT.json   an A1's low-level driver: each period it stamps and
 *                                              publishes rt/joint_states + rt/imu/data, and times
 *                                              the answer on rt/joint_commands in Cyclone's
 *                                              receive thread (a listener, as ddsperf's ping
 *                                              does), up to half a period; writes the round trips
 *                                              (state write -> command taken) as JSON, periods
 *                                              unanswered counted from the first answer on
 *   wire_peer echo SECONDS listener|waitset    the same exchange answered at C speed: each
 *                                              joint state is answered at once with a 12-value
 *                                              Float64MultiArray, from Cyclone's receive thread
 *                                              (listener) or from a thread of its own woken by a
 *                                              waitset, as an application's controller would be
 *
 * Types: ros2_msgs.idl (what rmw_cyclonedds puts on the wire), XCDR1, the QoS of the Python
 * peers: sensor topics best effort keep-last 5, commands reliable keep-last 10. */
#define _GNU_SOURCE
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dds/dds.h"
#include "ros2_msgs.h"

#define NJ 12
#define MAX_SAMPLES 200000

static const char *JOINTS[NJ] = {
    "FR_hip_joint", "FR_thigh_joint", "FR_calf_joint", "FL_hip_joint", "FL_thigh_joint", "FL_calf_joint",
    "RR_hip_joint", "RR_thigh_joint", "RR_calf_joint", "RL_hip_joint", "RL_thigh_joint", "RL_calf_joint"};
static double STAND[NJ] = {-0.1, 0.8, -1.5, 0.1, 0.8, -1.5, -0.1, 1.0, -1.5, 0.1, 1.0, -1.5};

static int64_t now_ns(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void die(const char *what, dds_return_t rc) {
    fprintf(stderr, "wire_peer: %s: %s\n", what, dds_strretcode(rc));
    exit(2);
}

static dds_entity_t check(const char *what, dds_entity_t e) {
    if (e < 0) die(what, e);
    return e;
}

static dds_qos_t *qos(int reliable, int depth) {
    dds_qos_t *q = dds_create_qos();
    dds_qset_reliability(q, reliable ? DDS_RELIABILITY_RELIABLE : DDS_RELIABILITY_BEST_EFFORT,
                         DDS_MSECS(100));
    dds_qset_history(q, DDS_HISTORY_KEEP_LAST, depth);
    dds_qset_durability(q, DDS_DURABILITY_VOLATILE);
    dds_data_representation_id_t xcdr1 = DDS_DATA_REPRESENTATION_XCDR1;
    dds_qset_data_representation(q, 1, &xcdr1);
    return q;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct_us(const int64_t *v, size_t n, double p) {
    if (n == 0) return NAN;
    size_t k = (size_t)(p * (double)n);
    if (k >= n) k = n - 1;
    return (double)v[k] / 1e3;
}

/* Takes every waiting sample of `rd` (loaned), returning how many there were. */
static int drain(dds_entity_t rd) {
    void *buf[16] = {NULL};
    dds_sample_info_t info[16];
    int total = 0;
    for (;;) {
        dds_return_t n = dds_take(rd, buf, info, 16, 16);
        if (n <= 0) break;
        for (int i = 0; i < n; i++) total += info[i].valid_data;
        dds_return_loan(rd, buf, n);
        if (n < 16) break;
    }
    return total;
}

static void wait_matched(dds_entity_t wr, dds_entity_t rd, double seconds) {
    int64_t end = now_ns(CLOCK_MONOTONIC) + (int64_t)(seconds * 1e9);
    while (now_ns(CLOCK_MONOTONIC) < end) {
        dds_publication_matched_status_t pm;
        dds_subscription_matched_status_t sm;
        dds_get_publication_matched_status(wr, &pm);
        dds_get_subscription_matched_status(rd, &sm);
        if (pm.current_count > 0 && sm.current_count > 0) return;
        dds_sleepfor(DDS_MSECS(10));
    }
}

/* The robot's answer handler: in Cyclone's receive thread, as ddsperf's ping times its pongs,
 * so that no application thread of the robot's is in the round trip. */
static _Atomic int64_t answer_ns;  /* when the current period's first answer came; 0: none */
static _Atomic int waiting;        /* a period is waiting for its answer */
static _Atomic long answers, late_answers;

static void on_command(dds_entity_t rd, void *arg) {
    (void)arg;
    int64_t t = now_ns(CLOCK_MONOTONIC);
    int got = drain(rd);
    if (got <= 0) return;
    atomic_fetch_add(&answers, got);
    int64_t none = 0;
    if (!atomic_load(&waiting) || !atomic_compare_exchange_strong(&answer_ns, &none, t))
        atomic_fetch_add(&late_answers, got);
}

/* The participant and the three topics both ends use, with their QoS. */
struct wire {
    dds_entity_t pp, js_t, imu_t, cmd_t;
    dds_qos_t *sensor, *reliable;
};

static struct wire open_wire(void) {
    struct wire w;
    w.pp = check("participant", dds_create_participant(DDS_DOMAIN_DEFAULT, NULL, NULL));
    w.sensor = qos(0, 5);
    w.reliable = qos(1, 10);
    w.js_t = check("topic", dds_create_topic(w.pp, &sensor_msgs_msg_dds__JointState__desc,
                                             "rt/joint_states", w.sensor, NULL));
    w.imu_t = check("topic", dds_create_topic(w.pp, &sensor_msgs_msg_dds__Imu__desc, "rt/imu/data",
                                              w.sensor, NULL));
    w.cmd_t = check("topic", dds_create_topic(w.pp, &std_msgs_msg_dds__Float64MultiArray__desc,
                                              "rt/joint_commands", w.reliable, NULL));
    return w;
}

static int run_robot(double seconds, double rate_hz, const char *out) {
    struct wire w = open_wire();
    dds_entity_t pp = w.pp, js_t = w.js_t, imu_t = w.imu_t, cmd_t = w.cmd_t;
    dds_qos_t *sensor = w.sensor, *reliable = w.reliable;
    dds_entity_t js_w = check("writer", dds_create_writer(pp, js_t, sensor, NULL));
    dds_entity_t imu_w = check("writer", dds_create_writer(pp, imu_t, sensor, NULL));
    dds_listener_t *l = dds_create_listener(NULL);
    dds_lset_data_available(l, on_command);
    dds_entity_t cmd_r = check("reader", dds_create_reader(pp, cmd_t, reliable, l));

    double pos[NJ], vel[NJ] = {0}, eff[NJ] = {0};
    memcpy(pos, STAND, sizeof pos);
    sensor_msgs_msg_dds__JointState_ js;
    memset(&js, 0, sizeof js);
    js.header.frame_id = "base";
    js.name._length = js.name._maximum = NJ;
    js.name._buffer = (char **)JOINTS;
    js.position._length = js.position._maximum = NJ;
    js.position._buffer = pos;
    js.velocity._length = js.velocity._maximum = NJ;
    js.velocity._buffer = vel;
    js.effort._length = js.effort._maximum = NJ;
    js.effort._buffer = eff;
    sensor_msgs_msg_dds__Imu_ imu;
    memset(&imu, 0, sizeof imu);
    imu.header.frame_id = "base";
    imu.orientation.w = 1.0;
    imu.linear_acceleration.z = 9.81;

    wait_matched(js_w, cmd_r, 20.0);
    int64_t *rtt = malloc(sizeof(int64_t) * MAX_SAMPLES);
    size_t n = 0;
    long periods = 0, unanswered = 0;
    int64_t period = (int64_t)(1e9 / rate_hz);
    int64_t start = now_ns(CLOCK_MONOTONIC), next = start;
    int64_t end = start + (int64_t)(seconds * 1e9);
    while (now_ns(CLOCK_MONOTONIC) < end) {
        atomic_store(&answer_ns, 0);
        atomic_store(&waiting, 1);
        int64_t sys = now_ns(CLOCK_REALTIME);
        js.header.stamp.sec = (int32_t)(sys / 1000000000);
        js.header.stamp.nanosec = (uint32_t)(sys % 1000000000);
        imu.header.stamp = js.header.stamp;
        int64_t t0 = now_ns(CLOCK_MONOTONIC);
        dds_return_t rc = dds_write(imu_w, &imu);
        if (rc < 0) die("write imu", rc);
        rc = dds_write(js_w, &js);
        if (rc < 0) die("write joint_states", rc);
        periods++;
        /* The answer has half a period; one after that is late, not this period's. */
        int64_t half = t0 + period / 2;
        struct timespec hs = {half / 1000000000, half % 1000000000};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &hs, NULL);
        atomic_store(&waiting, 0);
        int64_t t1 = atomic_load(&answer_ns);
        int answered = t1 != 0;
        if (answered && n < MAX_SAMPLES) rtt[n++] = t1 - t0;
        /* Counted from the first answer on: the controller may start after the robot. */
        if (!answered && n > 0) unanswered++;
        next += period;
        struct timespec ts = {next / 1000000000, next % 1000000000};
        if (next > now_ns(CLOCK_MONOTONIC)) clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        else next = now_ns(CLOCK_MONOTONIC);
    }
    double mean = 0;
    for (size_t i = 0; i < n; i++) mean += (double)rtt[i];
    mean = n ? mean / (double)n / 1e3 : NAN;
    qsort(rtt, n, sizeof(int64_t), cmp_i64);
    FILE *f = fopen(out, "w");
    if (!f) {
        perror(out);
        return 2;
    }
    fprintf(f,
            "{\"periods\": %ld, \"answered\": %zu, \"unanswered\": %ld, \"late\": %ld, \"commands\": %ld, "
            "\"round_trip_us\": {\"samples\": %zu, \"mean\": %.3f, \"p50\": %.3f, \"p99\": %.3f, "
            "\"p999\": %.3f, \"max\": %.3f}}\n",
            periods, n, unanswered, atomic_load(&late_answers), atomic_load(&answers), n, mean, pct_us(rtt, n, 0.5), pct_us(rtt, n, 0.99),
            pct_us(rtt, n, 0.999), pct_us(rtt, n, 1.0));
    fclose(f);
    free(rtt);
    dds_delete(pp);
    return 0;
}

struct echo_ctx {
    dds_entity_t imu_r, cmd_w;
    std_msgs_msg_dds__Float64MultiArray_ *cmd;
};

/* The listener's answer: in Cyclone's receive thread, the moment the joint state is in. */
static void on_joint_state(dds_entity_t rd, void *arg) {
    struct echo_ctx *c = arg;
    drain(c->imu_r);
    if (drain(rd) > 0) dds_write(c->cmd_w, c->cmd);
}

static int run_echo(double seconds, int listener) {
    struct wire w = open_wire();
    dds_entity_t pp = w.pp, js_t = w.js_t, imu_t = w.imu_t, cmd_t = w.cmd_t;
    dds_qos_t *sensor = w.sensor, *reliable = w.reliable;
    double tau[NJ] = {0};
    std_msgs_msg_dds__Float64MultiArray_ cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.data._length = cmd.data._maximum = NJ;
    cmd.data._buffer = tau;
    dds_entity_t imu_r = check("reader", dds_create_reader(pp, imu_t, sensor, NULL));
    dds_entity_t cmd_w = check("writer", dds_create_writer(pp, cmd_t, reliable, NULL));
    struct echo_ctx ctx = {imu_r, cmd_w, &cmd};
    dds_listener_t *l = dds_create_listener(&ctx);
    dds_lset_data_available(l, on_joint_state);
    dds_entity_t js_r = check("reader", dds_create_reader(pp, js_t, sensor, listener ? l : NULL));
    dds_entity_t ws = check("waitset", dds_create_waitset(pp));
    dds_entity_t cond = check("condition", dds_create_readcondition(js_r, DDS_ANY_STATE));
    check("attach", dds_waitset_attach(ws, cond, js_r));
    int64_t end = now_ns(CLOCK_MONOTONIC) + (int64_t)(seconds * 1e9);
    while (now_ns(CLOCK_MONOTONIC) < end) {
        if (listener) {
            dds_sleepfor(DDS_MSECS(50));
            continue;
        }
        if (dds_waitset_wait(ws, NULL, 0, DDS_MSECS(100)) <= 0) continue;
        drain(imu_r);
        if (drain(js_r) > 0) {
            dds_return_t rc = dds_write(cmd_w, &cmd);
            if (rc < 0) die("write joint_commands", rc);
        }
    }
    dds_delete(pp);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "robot") == 0)
        return run_robot(atof(argv[2]), atof(argv[3]), argv[4]);
    if (argc == 4 && strcmp(argv[1], "echo") == 0 &&
        (strcmp(argv[3], "listener") == 0 || strcmp(argv[3], "waitset") == 0))
        return run_echo(atof(argv[2]), strcmp(argv[3], "listener") == 0);
    fprintf(stderr, "usage: wire_peer robot SECONDS RATE_HZ OUT.json | wire_peer echo SECONDS listener|waitset\n");
    return 2;
}
