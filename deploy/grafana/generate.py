#!/usr/bin/env python3
"""Generate the efa-agent Grafana dashboards.

    python3 deploy/grafana/generate.py          # write dashboards/*.json
    python3 deploy/grafana/generate.py --check  # fail if they are out of date

The JSON files are what Grafana imports; this script is the source. Edit here,
regenerate, and commit both. Only the standard library is used.

Conventions (checked by check.py):
  - every panel and query uses the `datasource` variable;
  - every panel has a description and a unit;
  - panel ids are unique and panels never overlap;
  - per-node and per-cluster series come from the recording rules in
    deploy/prometheus/rules/efa-agent-recording.yml where one exists.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"

DS = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 39

# The same condition as the EfaNotUsedWhileGpusBusy alert, without the ENA
# part: busy GPUs, EFA transmitting under 1 MB/s.
CRITICAL_XIDS = "48|62|64|74|79|95|119|120"
THROTTLE_REASONS = "hw_slowdown|sw_thermal|hw_thermal|hw_power_brake"

NODE_LINK = (
    "/d/efa-agent-node/efa-agent-node?${datasource:queryparam}"
    "&var-node=${__field.labels.node}&${__url_time_range}"
)


# The ENA allowances whose ena_<name>_allowance_exceeded_total counters the agent exports.
ENA_ALLOWANCES = ("bw_in", "bw_out", "pps", "conntrack", "linklocal")


def thresholds(*steps):
    """steps: ("green", None), ("red", 1) ..."""
    return {
        "mode": "absolute",
        "steps": [{"color": c, "value": v} for c, v in steps],
    }


NEUTRAL = thresholds(("text", None))
BAD_IF_ANY = thresholds(("green", None), ("red", 1))


def target(expr, legend="", ref="A", instant=False, fmt="time_series", interval=""):
    t = {
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend,
        "range": not instant,
        "instant": instant,
        "format": fmt,
        "refId": ref,
    }
    if interval:
        t["interval"] = interval
    return t


def targets(*specs, instant=False, fmt="time_series"):
    """specs: (expr, legend) tuples; refIds A, B, C ... in order."""
    return [
        target(expr, legend, ref=chr(ord("A") + i), instant=instant, fmt=fmt)
        for i, (expr, legend) in enumerate(specs)
    ]


def legend(placement="bottom", calcs=("mean", "max", "lastNotNull"), sort_by=None, sort_desc=True):
    out = {
        "showLegend": True,
        "displayMode": "table",
        "placement": placement,
        "calcs": list(calcs),
    }
    if sort_by:
        out["sortBy"] = sort_by
        out["sortDesc"] = sort_desc
    return out


def override_regex(regex, props):
    return {
        "matcher": {"id": "byRegexp", "options": regex},
        "properties": [{"id": k, "value": v} for k, v in props],
    }


def override_name(name, props):
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": k, "value": v} for k, v in props],
    }


def override_frame_ref(ref, props):
    return {
        "matcher": {"id": "byFrameRefID", "options": ref},
        "properties": [{"id": k, "value": v} for k, v in props],
    }


DASHED_REFERENCE = [
    ("custom.lineStyle", {"fill": "dash", "dash": [10, 10]}),
    ("custom.fillOpacity", 0),
    ("color", {"mode": "fixed", "fixedColor": "red"}),
]
NEGATIVE_Y = [("custom.transform", "negative-Y")]


def timeseries(title, description, tgts, unit, *, minimum=None, maximum=None,
               steps=None, threshold_lines=False, overrides=(), legend_opts=None,
               draw="line", interpolation="linear", fill=10, stack=False,
               links=None, decimals=None):
    defaults = {
        "unit": unit,
        "color": {"mode": "palette-classic"},
        "custom": {
            "drawStyle": draw,
            "lineInterpolation": interpolation,
            "lineWidth": 1,
            "fillOpacity": fill,
            "gradientMode": "none",
            "showPoints": "never",
            "spanNulls": False,
            "axisPlacement": "auto",
            "axisLabel": "",
            "axisSoftMin": 0,
            "scaleDistribution": {"type": "linear"},
            "stacking": {"mode": "normal" if stack else "none", "group": "A"},
            "thresholdsStyle": {"mode": "dashed" if threshold_lines else "off"},
        },
        "thresholds": steps or thresholds(("green", None)),
    }
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    if decimals is not None:
        defaults["decimals"] = decimals
    if links:
        defaults["links"] = links
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "fieldConfig": {"defaults": defaults, "overrides": list(overrides)},
        "options": {
            "legend": legend_opts or legend(),
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": tgts,
    }


def stat(title, description, tgts, unit, *, steps=None, color_mode="background",
         graph="area", text_mode="auto", no_value=None, decimals=None, mappings=None):
    defaults = {
        "unit": unit,
        "color": {"mode": "thresholds"},
        "thresholds": steps or NEUTRAL,
        "mappings": mappings or [],
    }
    if no_value is not None:
        defaults["noValue"] = no_value
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DS,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": color_mode,
            "graphMode": graph,
            "textMode": text_mode,
            "justifyMode": "auto",
            "orientation": "auto",
            "showPercentChange": False,
            "wideLayout": True,
        },
        "targets": tgts,
    }


def table(title, description, tgts, unit, *, transformations=(), overrides=(),
          steps=None, cell="auto", sort_by=None, links=None):
    defaults = {
        "unit": unit,
        "color": {"mode": "thresholds"},
        "thresholds": steps or NEUTRAL,
        "custom": {"align": "auto", "cellOptions": {"type": cell}, "inspect": False},
    }
    if links:
        defaults["links"] = links
    options = {"showHeader": True, "cellHeight": "sm",
               "footer": {"show": False, "reducer": ["sum"], "countRows": False, "fields": ""}}
    if sort_by:
        options["sortBy"] = [{"displayName": sort_by[0], "desc": sort_by[1]}]
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DS,
        "fieldConfig": {"defaults": defaults, "overrides": list(overrides)},
        "options": options,
        "transformations": list(transformations),
        "targets": tgts,
    }


def state_timeline(title, description, tgts, unit, mappings, *, steps=None):
    return {
        "type": "state-timeline",
        "title": title,
        "description": description,
        "datasource": DS,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "color": {"mode": "thresholds"},
                "thresholds": steps or thresholds(("green", None)),
                "mappings": mappings,
                "custom": {"fillOpacity": 80, "lineWidth": 0},
            },
            "overrides": [],
        },
        "options": {
            "mergeValues": True,
            "showValue": "never",
            "alignValue": "left",
            "rowHeight": 0.9,
            "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"},
            "tooltip": {"mode": "single", "sort": "none"},
        },
        "targets": tgts,
    }


def bargauge(title, description, tgts, unit, *, steps, minimum=None, maximum=None, links=None):
    defaults = {
        "unit": unit,
        "color": {"mode": "thresholds"},
        "thresholds": steps,
    }
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    if links:
        defaults["links"] = links
    return {
        "type": "bargauge",
        "title": title,
        "description": description,
        "datasource": DS,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "displayMode": "gradient",
            "orientation": "horizontal",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "showUnfilled": True,
            "valueMode": "color",
            "namePlacement": "left",
            "sizing": "auto",
            "minVizHeight": 16,
            "minVizWidth": 8,
            "maxVizHeight": 300,
        },
        "targets": tgts,
    }


def heatmap(title, description, tgts, unit):
    return {
        "type": "heatmap",
        "title": title,
        "description": description,
        "datasource": DS,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "custom": {
                    "hideFrom": {"legend": False, "tooltip": False, "viz": False},
                    "scaleDistribution": {"type": "linear"},
                },
            },
            "overrides": [],
        },
        "options": {
            # The series are already the cells: one row per node/GPU.
            "calculate": False,
            "rowsFrame": {"layout": "auto"},
            "yAxis": {"axisPlacement": "left", "reverse": True, "unit": ""},
            "color": {
                "mode": "scheme",
                "scheme": "RdYlGn",
                "fill": "dark",
                "steps": 64,
                "exponent": 0.5,
                "reverse": False,
                "min": 0,
                "max": 1,
            },
            "cellGap": 1,
            "cellValues": {"unit": unit},
            # Show idle (0) cells too: an idle GPU in a busy job is the point.
            "filterValues": {"le": -1},
            "showValue": "never",
            "legend": {"show": True},
            "tooltip": {"mode": "single", "yHistogram": False, "showColorScale": True},
            "exemplars": {"color": "rgba(255,0,255,0.7)"},
        },
        "targets": tgts,
    }


def row(title, description):
    return {
        "type": "row",
        "title": title,
        "description": description,
        "datasource": DS,
        "collapsed": False,
        "panels": [],
        "fieldConfig": {"defaults": {"unit": "none"}, "overrides": []},
    }


class Layout:
    """Places panels left to right on Grafana's 24-column grid."""

    def __init__(self):
        self.panels = []
        self.x = 0
        self.y = 0
        self.line_height = 0

    def _newline(self):
        if self.x > 0:
            self.y += self.line_height
            self.x = 0
            self.line_height = 0

    def row(self, panel):
        self._newline()
        panel["gridPos"] = {"h": 1, "w": 24, "x": 0, "y": self.y}
        self._add(panel)
        self.y += 1

    def add(self, panel, w, h):
        if self.x + w > 24:
            self._newline()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self._add(panel)
        self.x += w
        self.line_height = max(self.line_height, h)

    def _add(self, panel):
        panel["id"] = len(self.panels) + 1
        self.panels.append(panel)


def datasource_variable():
    return {
        "type": "datasource",
        "name": "datasource",
        "label": "Data source",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
    }


def query_variable(name, label, query, *, multi=False, include_all=False,
                   all_value=None, hide=0, description=""):
    v = {
        "type": "query",
        "name": name,
        "label": label,
        "description": description,
        "datasource": DS,
        "definition": query,
        "query": query,
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "current": {},
        "hide": hide,
        "includeAll": include_all,
        "multi": multi,
        "options": [],
        "skipUrlSync": False,
    }
    if all_value is not None:
        v["allValue"] = all_value
    return v


def annotation(name, expr, title, color, tags):
    return {
        "name": name,
        "datasource": DS,
        "enable": True,
        "hide": False,
        "iconColor": color,
        "expr": expr,
        "step": "60s",
        "titleFormat": title,
        "tagKeys": tags,
        "textFormat": "",
        "useValueForTime": False,
    }


BUILTIN_ANNOTATION = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


def dashboard(uid, title, description, tags, variables, panels, annotations, links):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": tags,
        "editable": True,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "style": "dark",
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "weekStart": "",
        "version": 1,
        "links": links,
        "annotations": {"list": [BUILTIN_ANNOTATION] + annotations},
        "templating": {"list": variables},
        "panels": panels,
    }


# ---------------------------------------------------------------------------
# Node dashboard
# ---------------------------------------------------------------------------
def node_dashboard():
    n = 'node="$node"'
    dev = f'{n},device=~"$device"'
    gpu = f'{n},gpu=~"$gpu"'
    iface = f'{n},device=~"$interface"'
    L = Layout()

    # --- Overview --------------------------------------------------------
    L.row(row("Overview", "Is the agent sampling, what is this node, and is it on EFA right now?"))
    L.add(stat(
        "Last sample age",
        "Seconds since the agent last completed a sample (it samples every 250 ms). "
        "Over a few seconds the agent is not sampling and the graphs below are stale, not idle; "
        "no value means the agent is down or not scraped.",
        targets((f"time() - efa_agent_last_sample_timestamp_seconds{{{n}}}", "age")),
        "s", steps=thresholds(("green", None), ("orange", 5), ("red", 60)), graph="none", decimals=1,
    ), 3, 4)
    L.add(stat(
        "Instance type",
        "EC2 instance type the agent read from DMI (efa_node_info).",
        targets((f"efa_node_info{{{n}}}", "{{instance_type}}")),
        "none", color_mode="none", graph="none", text_mode="name",
    ), 3, 4)
    L.add(stat(
        "EFA devices",
        "EFA devices the agent found, next to the number this instance type has "
        "(p4d 4, p5 32, p5en 16, trn1 8, trn1n 16). Fewer found than expected: see the EfaDevicesMissing runbook.",
        targets((f"max(efa_devices{{{n}}})", "found"),
                (f"max(efa_devices_expected{{{n}}})", "expected")),
        "none", color_mode="none", graph="none", text_mode="value_and_name",
    ), 3, 4)
    L.add(stat(
        "GPUs up",
        "GPUs NVML can read (gpu_up = 1) out of the GPUs it enumerates. Fewer up than total: a GPU is lost.",
        targets((f"sum(gpu_up{{{n}}})", "up"), (f"count(gpu_up{{{n}}})", "total")),
        "none", color_mode="none", graph="none", text_mode="value_and_name",
    ), 3, 4)
    L.add(stat(
        "EFA throughput",
        "Bytes per second over all EFA devices of the node (recording rules node:efa_port_*_bytes:rate1m). "
        "Near zero while the GPUs are busy on a multi-node job: the job is not on EFA.",
        targets((f"node:efa_port_tx_bytes:rate1m{{{n}}}", "transmit"),
                (f"node:efa_port_rx_bytes:rate1m{{{n}}}", "receive")),
        "Bps", color_mode="none", text_mode="value_and_name",
    ), 3, 4)
    L.add(stat(
        "ENA (TCP) throughput",
        "Bytes per second over the physical ENA interfaces (lo and container interfaces excluded). "
        "EFA bytes never appear here; heavy traffic both ways here with flat EFA means NCCL fell back to sockets.",
        targets((f"node:netdev_transmit_bytes:rate1m{{{n}}}", "transmit"),
                (f"node:netdev_receive_bytes:rate1m{{{n}}}", "receive")),
        "Bps", color_mode="none", text_mode="value_and_name",
    ), 3, 4)
    L.add(stat(
        "Mean GPU utilisation",
        "Mean of the GPUs' utilisation (time a kernel ran). Reads 100% while a rank waits inside an NCCL "
        "collective, so pair it with the EFA bytes.",
        targets((f"node:gpu_utilization_ratio:avg{{{n}}}", "mean")),
        "percentunit", steps=thresholds(("red", None), ("orange", 0.5), ("green", 0.8)),
    ), 3, 4)
    L.add(stat(
        "Firing alerts",
        "Alerts firing for this node right now (Prometheus ALERTS). The table under "
        "\"Agent health\" and the alert runbooks say what to do.",
        targets((f'count(ALERTS{{alertstate="firing",{n}}}) or vector(0)', "alerts")),
        "none", steps=BAD_IF_ANY, graph="none",
    ), 3, 4)

    # --- EFA throughput ----------------------------------------------------
    L.row(row("EFA throughput per device",
              "EFA is OS-bypass: these bytes come from the devices' hw_counters and never show in /proc/net/dev."))
    L.add(timeseries(
        "EFA transmit per device",
        "Transmitted bytes per second of each EFA device (rate of efa_port_tx_bytes_total). "
        "A healthy NCCL job spreads traffic evenly; one device far below the others points at that device "
        "or its NUMA placement.",
        targets((f"rate(efa_port_tx_bytes_total{{{dev}}}[$__rate_interval])", "{{device}}")),
        "Bps", legend_opts=legend("right", ("mean", "max")),
    ), 12, 9)
    L.add(timeseries(
        "EFA receive per device",
        "Received bytes per second of each EFA device (rate of efa_port_rx_bytes_total).",
        targets((f"rate(efa_port_rx_bytes_total{{{dev}}}[$__rate_interval])", "{{device}}")),
        "Bps", legend_opts=legend("right", ("mean", "max")),
    ), 12, 9)
    L.add(timeseries(
        "EFA transmit peak within each scrape",
        "Highest transmit rate of each device over any 250 ms inside the last 15 s, measured by the agent: "
        "bursts that the 15 s average above flattens. The dashed red line is the link rate; peaks at the line "
        "mean the device is saturated during collectives.",
        targets((f"efa_port_transmit_peak_bytes_per_second{{{dev}}}", "{{device}}"),
                (f"max(rdma_port_rate_bytes_per_second{{{dev}}})", "link rate")),
        "Bps", overrides=[override_name("link rate", DASHED_REFERENCE)],
        legend_opts=legend("right", ("mean", "max")),
    ), 12, 9)
    L.add(timeseries(
        "EFA receive peak within each scrape",
        "Highest receive rate of each device over any 250 ms inside the last 15 s. "
        "The dashed red line is the link rate.",
        targets((f"efa_port_receive_peak_bytes_per_second{{{dev}}}", "{{device}}"),
                (f"max(rdma_port_rate_bytes_per_second{{{dev}}})", "link rate")),
        "Bps", overrides=[override_name("link rate", DASHED_REFERENCE)],
        legend_opts=legend("right", ("mean", "max")),
    ), 12, 9)
    L.add(timeseries(
        "EFA link utilisation at peak",
        "Peak 250 ms rate divided by the port's link rate (rdma_port_rate_bytes_per_second), per device and "
        "direction. Above 80% (orange) the device saturates during bursts; it then limits the collective.",
        targets((f"efa_port_transmit_peak_bytes_per_second{{{dev}}} / rdma_port_rate_bytes_per_second{{{dev}}}",
                 "{{device}} transmit"),
                (f"efa_port_receive_peak_bytes_per_second{{{dev}}} / rdma_port_rate_bytes_per_second{{{dev}}}",
                 "{{device}} receive")),
        "percentunit", minimum=0, maximum=1, threshold_lines=True,
        steps=thresholds(("green", None), ("orange", 0.8), ("red", 0.95)),
        legend_opts=legend("right", ("mean", "max")),
    ), 12, 8)
    L.add(timeseries(
        "EFA bytes by operation (node)",
        "What moves the bytes, summed over the devices: two-sided send/receive versus one-sided RDMA read "
        "and write. p4d (and drivers before r2.5) have no RDMA write: 0 there is normal.",
        targets((f"sum(rate(efa_port_send_bytes_total{{{dev}}}[$__rate_interval]))", "send"),
                (f"sum(rate(efa_port_recv_bytes_total{{{dev}}}[$__rate_interval]))", "receive"),
                (f"sum(rate(efa_port_rdma_read_bytes_total{{{dev}}}[$__rate_interval]))", "RDMA read"),
                (f"sum(rate(efa_port_rdma_write_bytes_total{{{dev}}}[$__rate_interval]))", "RDMA write")),
        "Bps",
    ), 12, 8)

    # --- EFA vs ENA ----------------------------------------------------------
    L.row(row("EFA or TCP? EFA next to ENA",
              "Socket fallback shows as busy GPUs, flat EFA bytes and ENA bytes climbing both ways."))
    L.add(timeseries(
        "EFA vs ENA throughput (node)",
        "EFA bytes (solid) next to the physical ENA interfaces' bytes (dashed orange), per second. A multi-node "
        "job on EFA shows large EFA and small ENA traffic. Large ENA traffic in both directions with flat EFA "
        "means NCCL runs over TCP sockets (alert EfaNotUsedWhileGpusBusy). One-sided ENA traffic is data "
        "loading (receive) or checkpointing (transmit).",
        targets((f"node:efa_port_tx_bytes:rate1m{{{n}}}", "EFA transmit"),
                (f"node:efa_port_rx_bytes:rate1m{{{n}}}", "EFA receive"),
                (f"node:netdev_transmit_bytes:rate1m{{{n}}}", "ENA transmit"),
                (f"node:netdev_receive_bytes:rate1m{{{n}}}", "ENA receive")),
        "Bps",
        overrides=[override_regex("ENA.*", [
            ("custom.lineStyle", {"fill": "dash", "dash": [10, 10]}),
            ("color", {"mode": "fixed", "fixedColor": "orange"}),
        ])],
    ), 12, 9)
    L.add(timeseries(
        "ENA interfaces (transmit up, receive down)",
        "Bytes per second of each interface from /proc/net/dev: transmit above the axis, receive below. "
        "Rendezvous, bootstrap, logging and data loading live here, and all training traffic when NCCL "
        "falls back to sockets.",
        targets((f"rate(netdev_transmit_bytes_total{{{iface}}}[$__rate_interval])", "{{device}} transmit"),
                (f"rate(netdev_receive_bytes_total{{{iface}}}[$__rate_interval])", "{{device}} receive")),
        "Bps", overrides=[override_regex(".* receive", NEGATIVE_Y)],
        legend_opts=legend("right", ("mean", "max")),
    ), 12, 9)
    L.add(timeseries(
        "ENA peak within each scrape",
        "Highest 250 ms rate of each interface inside the last 15 s (transmit up, receive down): "
        "bursts the 15 s average hides.",
        targets((f"netdev_transmit_peak_bytes_per_second{{{iface}}}", "{{device}} transmit"),
                (f"netdev_receive_peak_bytes_per_second{{{iface}}}", "{{device}} receive")),
        "Bps", overrides=[override_regex(".* receive", NEGATIVE_Y)],
        legend_opts=legend("right", ("mean", "max")),
    ), 12, 8)
    L.add(timeseries(
        "ENA errors and drops",
        "Receive/transmit errors and drops per second of each interface from /proc/net/dev. "
        "Drops climbing with high throughput: the instance exceeds its ENA allowance or the socket "
        "buffers are too small.",
        targets((f"rate(netdev_receive_errs_total{{{iface}}}[$__rate_interval])", "{{device}} receive errors"),
                (f"rate(netdev_transmit_errs_total{{{iface}}}[$__rate_interval])", "{{device}} transmit errors"),
                (f"rate(netdev_receive_drop_total{{{iface}}}[$__rate_interval])", "{{device}} receive drops"),
                (f"rate(netdev_transmit_drop_total{{{iface}}}[$__rate_interval])", "{{device}} transmit drops")),
        "pps", legend_opts=legend("right", ("max", "lastNotNull")),
    ), 12, 8)

    L.add(timeseries(
        "ENA allowance drops",
        "Packets per second each ENA interface queued or dropped because the instance exceeded one of its "
        "network allowances (ethtool -S: bw_in, bw_out, pps, conntrack, linklocal _allowance_exceeded, read "
        "every discovery interval). The OS sees none of it. Flat at zero is healthy; a job on TCP sockets "
        "runs into bw_out/bw_in and pps (alert EnaAllowanceExceeded).",
        targets(*[(f"rate(ena_{a}_allowance_exceeded_total{{{iface}}}[$__rate_interval])", f"{{{{device}}}} {a}")
                  for a in ENA_ALLOWANCES]),
        "pps", legend_opts=legend("right", ("max", "lastNotNull")),
    ), 12, 8)
    L.add(timeseries(
        "ENA connections left (conntrack allowance)",
        "Tracked connections each ENA interface can still open before the instance reaches its "
        "connection-tracking allowance (ethtool -S conntrack_allowance_available, newer ENA drivers only). "
        "Falling towards zero: conntrack drops follow.",
        targets((f"ena_conntrack_allowance_available{{{iface}}}", "{{device}}")),
        "short", minimum=0, legend_opts=legend("right", ("min", "lastNotNull")),
    ), 12, 8)

    # --- EFA errors --------------------------------------------------------
    L.row(row("EFA errors",
              "Flat at zero is healthy. retrans_* and *_remote_* need EFA driver r2.17 (kernel 6.17+); older nodes show nothing."))
    L.add(timeseries(
        "Receive drops and retransmits",
        "Packets per second each device dropped on receive (rx_drops) and retransmitted (retrans_pkts). "
        "Sustained drops or over 1% retransmits slow collectives (alerts EfaRxDrops, EfaRetransmitRatioHigh).",
        targets((f"rate(efa_port_rx_drops_total{{{dev}}}[$__rate_interval])", "{{device}} rx drops"),
                (f"rate(efa_port_retrans_pkts_total{{{dev}}}[$__rate_interval])", "{{device}} retransmits")),
        "pps", legend_opts=legend("right", ("max", "lastNotNull")),
    ), 12, 8)
    L.add(timeseries(
        "Remote peer events",
        "Events per second: retransmit timeouts, remote peers that stopped answering, and impaired remote "
        "connections. They usually point at a peer node (down, rebooting, faulty), not at this one.",
        targets((f"rate(efa_port_retrans_timeout_events_total{{{dev}}}[$__rate_interval])", "{{device}} retransmit timeouts"),
                (f"rate(efa_port_unresponsive_remote_events_total{{{dev}}}[$__rate_interval])", "{{device}} unresponsive remote"),
                (f"rate(efa_port_impaired_remote_conn_events_total{{{dev}}}[$__rate_interval])", "{{device}} impaired remote")),
        "cps", legend_opts=legend("right", ("max", "lastNotNull")),
    ), 12, 8)
    L.add(timeseries(
        "RDMA work-request errors",
        "RDMA read and write work requests that completed with an error, per second. Any is bad: the "
        "application saw failed completions (alert EfaWorkRequestErrors).",
        targets((f"rate(efa_port_rdma_read_wr_err_total{{{dev}}}[$__rate_interval])", "{{device}} RDMA read"),
                (f"rate(efa_port_rdma_write_wr_err_total{{{dev}}}[$__rate_interval])", "{{device}} RDMA write")),
        "cps", legend_opts=legend("right", ("max", "lastNotNull")),
    ), 12, 8)
    L.add(timeseries(
        "Device admin errors",
        "Admin-queue errors per second of each EFA device: failed or uncompleted commands, failed queue pair "
        "creation and memory registration (efa_device_*_total). Any is a device or driver problem "
        "(alert EfaDeviceCommandErrors).",
        targets((f"rate(efa_device_cmds_err_total{{{dev}}}[$__rate_interval])", "{{device}} cmds_err"),
                (f"rate(efa_device_no_completion_cmds_total{{{dev}}}[$__rate_interval])", "{{device}} no_completion"),
                (f"rate(efa_device_create_qp_err_total{{{dev}}}[$__rate_interval])", "{{device}} create_qp_err"),
                (f"rate(efa_device_reg_mr_err_total{{{dev}}}[$__rate_interval])", "{{device}} reg_mr_err")),
        "cps", legend_opts=legend("right", ("max", "lastNotNull")),
    ), 12, 8)

    # --- GPUs ------------------------------------------------------------------
    L.row(row("GPUs", "NVML readings per GPU, sampled by the agent."))
    L.add(timeseries(
        "GPU utilisation",
        "Share of time a kernel ran on each GPU. It reads 100% while a rank spins inside an NCCL collective "
        "waiting for a slow peer, so a healthy-looking 100% can still be a stalled job: check EFA bytes.",
        targets((f"gpu_utilization_ratio{{{gpu}}}", "GPU {{gpu}}")),
        "percentunit", minimum=0, maximum=1, legend_opts=legend("right", ("mean", "min")),
    ), 12, 8)
    L.add(timeseries(
        "GPU memory used",
        "Device memory in use on each GPU; the dashed red line is the capacity of the largest GPU.",
        targets((f"gpu_memory_used_bytes{{{gpu}}}", "GPU {{gpu}}"),
                (f"max(gpu_memory_total_bytes{{{gpu}}})", "capacity")),
        "bytes", overrides=[override_name("capacity", DASHED_REFERENCE)],
        legend_opts=legend("right", ("mean", "max")),
    ), 12, 8)
    L.add(timeseries(
        "GPU power",
        "Board power draw of each GPU (a 1 s average on Ampere+ except A100, where it is instantaneous). "
        "One GPU drawing much less than its peers during training is idle or throttled.",
        targets((f"gpu_power_watts{{{gpu}}}", "GPU {{gpu}}")),
        "watt", legend_opts=legend("right", ("mean", "max")),
    ), 12, 8)
    L.add(timeseries(
        "GPU temperature",
        "Core (solid) and memory (dashed) temperature of each GPU. Dashed threshold lines at 85 °C and 95 °C; "
        "thermal throttling shows in \"Clock event reasons\".",
        targets((f"gpu_temperature_celsius{{{gpu}}}", "GPU {{gpu}} core"),
                (f"gpu_memory_temperature_celsius{{{gpu}}}", "GPU {{gpu}} memory")),
        "celsius", threshold_lines=True,
        steps=thresholds(("green", None), ("orange", 85), ("red", 95)),
        overrides=[override_regex(".* memory", [("custom.lineStyle", {"fill": "dash", "dash": [10, 10]})])],
        legend_opts=legend("right", ("mean", "max")),
    ), 12, 8)
    L.add(timeseries(
        "SM clock",
        "Streaming-multiprocessor clock of each GPU. A GPU clocked below its peers under the same load is "
        "throttled, and in a synchronous job it sets the pace for every rank.",
        targets((f"gpu_sm_clock_hertz{{{gpu}}}", "GPU {{gpu}}")),
        "hertz", legend_opts=legend("right", ("mean", "min")),
    ), 12, 8)
    L.add(timeseries(
        "Memory clock",
        "Memory clock of each GPU.",
        targets((f"gpu_memory_clock_hertz{{{gpu}}}", "GPU {{gpu}}")),
        "hertz", legend_opts=legend("right", ("mean", "min")),
    ), 12, 8)
    L.add(state_timeline(
        "Clock event reasons (throttling)",
        "When each clock event reason was active on any selected GPU. sw_power_cap under full load is "
        "normal; sw_thermal, hw_thermal, hw_slowdown and hw_power_brake slow the GPU down "
        "(alert GpuThermalOrPowerThrottling). gpu_idle is left out.",
        targets((f'max by (reason) (gpu_clock_event_active{{{gpu},reason!="gpu_idle"}})', "{{reason}}")),
        "none",
        [{"type": "value", "options": {
            "0": {"text": "inactive", "color": "transparent", "index": 0},
            "1": {"text": "active", "color": "orange", "index": 1}}}],
    ), 12, 8)
    L.add(timeseries(
        "Time throttled",
        "Share of time each GPU spent throttled, by reason (rate of gpu_throttle_seconds_total). "
        "Above 10% for 5 minutes raises GpuThermalOrPowerThrottling.",
        targets((f"rate(gpu_throttle_seconds_total{{{gpu}}}[$__rate_interval])", "GPU {{gpu}} {{reason}}")),
        "percentunit", minimum=0, threshold_lines=True,
        steps=thresholds(("green", None), ("red", 0.1)),
        legend_opts=legend("right", ("mean", "max")),
    ), 12, 8)
    L.add(timeseries(
        "NVLink throughput (transmit up, receive down)",
        "NVLink bytes per second of each GPU: the intra-node part of the collectives. Busy NVLink with flat "
        "EFA is a single-node job (or one whose inter-node traffic went to TCP).",
        targets((f"rate(gpu_nvlink_transmit_bytes_total{{{gpu}}}[$__rate_interval])", "GPU {{gpu}} transmit"),
                (f"rate(gpu_nvlink_receive_bytes_total{{{gpu}}}[$__rate_interval])", "GPU {{gpu}} receive")),
        "Bps", overrides=[override_regex(".* receive", NEGATIVE_Y)],
        legend_opts=legend("right", ("mean", "max")),
    ), 12, 8)
    L.add(timeseries(
        "PCIe throughput (transmit up, receive down)",
        "PCIe bytes per second of each GPU: host transfers (data loading, checkpoints) and, with GPUDirect "
        "RDMA, the EFA traffic between GPU and NIC.",
        targets((f"rate(gpu_pcie_transmit_bytes_total{{{gpu}}}[$__rate_interval])", "GPU {{gpu}} transmit"),
                (f"rate(gpu_pcie_receive_bytes_total{{{gpu}}}[$__rate_interval])", "GPU {{gpu}} receive")),
        "Bps", overrides=[override_regex(".* receive", NEGATIVE_Y)],
        legend_opts=legend("right", ("mean", "max")),
    ), 12, 8)
    L.add(timeseries(
        "GPU memory per process",
        "Device memory held by each process on each GPU. A process left over from an earlier job holds "
        "memory (and often a port) the next job needs: find it with `nvidia-smi` and stop it.",
        targets((f"gpu_process_memory_used_bytes{{{gpu}}}", "GPU {{gpu}} pid {{pid}}")),
        "bytes", legend_opts=legend("right", ("lastNotNull",)),
    ), 24, 8)

    # --- GPU errors --------------------------------------------------------
    L.row(row("GPU errors", "Xid events, memory health and link errors."))
    L.add(timeseries(
        "Xid errors (count since the agent started)",
        "Xid events per GPU and Xid code, counted by the agent since it started: each step up is an event. "
        "The action in the legend says what the code asks for: reset_gpu and reboot_node are hardware or "
        "firmware faults (alert GpuCriticalXid); restart_application is an application fault. "
        "The README's Xid table lists the codes.",
        targets((f"gpu_xid_errors_total{{{gpu}}}", "GPU {{gpu}} Xid {{xid}} ({{action}})")),
        "short", interpolation="stepAfter", fill=0, decimals=0,
        legend_opts=legend("right", ("lastNotNull",)),
    ), 18, 8)
    L.add(stat(
        "Last Xid",
        "When the most recent Xid event of any GPU on this node happened. \"never\": none since the agent started.",
        targets((f"max(gpu_last_xid_timestamp_seconds{{{n}}} > 0) * 1000", "last Xid")),
        "dateTimeFromNow", color_mode="none", graph="none", no_value="never",
    ), 6, 8)
    L.add(table(
        "Memory and link health per GPU",
        "Current counters per GPU. Uncorrected ECC errors, pending or failed row remaps and pending page "
        "retirements (red when not 0) need a GPU reset or a replacement: see the GpuEccUncorrectedErrors, "
        "GpuRemappedRowsPending and GpuRemappedRowsFailed runbooks. Corrected errors and PCIe replays are "
        "informational unless they climb fast.",
        targets((f'sum by (gpu) (gpu_ecc_errors_total{{{gpu},type="uncorrected",counter="volatile"}})', ""),
                (f'sum by (gpu) (gpu_ecc_errors_total{{{gpu},type="corrected",counter="volatile"}})', ""),
                (f"max by (gpu) (gpu_remapped_rows_pending{{{gpu}}})", ""),
                (f"max by (gpu) (gpu_remapped_rows_failed{{{gpu}}})", ""),
                (f'sum by (gpu) (gpu_remapped_rows_total{{{gpu},type="uncorrectable"}})', ""),
                (f"max by (gpu) (gpu_retired_pages_pending{{{gpu}}})", ""),
                (f"sum by (gpu) (gpu_nvlink_errors_total{{{gpu}}})", ""),
                (f"sum by (gpu) (gpu_pcie_replays_total{{{gpu}}})", ""),
                instant=True, fmt="table"),
        "short",
        transformations=[
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {
                "excludeByName": {"Time": True},
                "indexByName": {},
                "renameByName": {
                    "gpu": "GPU",
                    "Value #A": "Uncorrected ECC",
                    "Value #B": "Corrected ECC",
                    "Value #C": "Remap pending",
                    "Value #D": "Remap failed",
                    "Value #E": "Rows remapped (uncorrectable)",
                    "Value #F": "Pages pending retirement",
                    "Value #G": "NVLink errors",
                    "Value #H": "PCIe replays",
                }}},
        ],
        overrides=[override_regex("Uncorrected ECC|Remap pending|Remap failed|Pages pending retirement", [
            ("custom.cellOptions", {"type": "color-background"}),
            ("thresholds", BAD_IF_ANY),
        ])],
        sort_by=("GPU", False),
    ), 12, 8)
    L.add(timeseries(
        "NVLink errors and PCIe replays",
        "NVLink error counters (CRC, replay, recovery) and PCIe replays per second for each GPU. A link that "
        "keeps erroring often ends in Xid 74.",
        targets((f"sum by (gpu, type) (rate(gpu_nvlink_errors_total{{{gpu}}}[$__rate_interval]))", "GPU {{gpu}} NVLink {{type}}"),
                (f"rate(gpu_pcie_replays_total{{{gpu}}}[$__rate_interval])", "GPU {{gpu}} PCIe replays")),
        "cps", legend_opts=legend("right", ("max", "lastNotNull")),
    ), 12, 8)

    # --- Agent health ------------------------------------------------------
    L.row(row("Agent health",
              "Tells \"no traffic\" apart from \"agent not sampling\"."))
    L.add(state_timeline(
        "Collector success",
        "Whether each collector (efa, netdev, gpu) succeeded on its last sample. Failing for minutes raises "
        "EfaAgentCollectorFailing; its metrics are then missing or stale.",
        targets((f"efa_agent_collector_success{{{n}}}", "{{collector}}")),
        "none",
        [{"type": "value", "options": {
            "0": {"text": "failing", "color": "red", "index": 0},
            "1": {"text": "ok", "color": "green", "index": 1}}}],
    ), 12, 6)
    L.add(timeseries(
        "Sample duration",
        "How long each collector and the whole tick take, against the sample interval (dashed red). A tick "
        "longer than the interval is an overrun: samples are skipped.",
        targets((f"efa_agent_collector_duration_seconds{{{n}}}", "{{collector}}"),
                (f"efa_agent_tick_duration_seconds{{{n}}}", "whole tick"),
                (f"efa_agent_sample_interval_seconds{{{n}}}", "sample interval")),
        "s", overrides=[override_name("sample interval", DASHED_REFERENCE)],
        legend_opts=legend("right", ("mean", "max")),
    ), 12, 6)
    L.add(timeseries(
        "Overruns and collector errors",
        "Ticks per second that overran the interval, and collector errors per second.",
        targets((f"rate(efa_agent_tick_overruns_total{{{n}}}[$__rate_interval])", "tick overruns"),
                (f"rate(efa_agent_collector_errors_total{{{n}}}[$__rate_interval])", "{{collector}} errors")),
        "cps", legend_opts=legend("right", ("max", "lastNotNull")),
    ), 12, 6)
    L.add(timeseries(
        "Last sample age",
        "Seconds between now and the agent's last completed sample. It stays under a second while the "
        "agent samples; a climbing line means its loop stopped (alert EfaAgentNotSampling).",
        targets((f"time() - efa_agent_last_sample_timestamp_seconds{{{n}}}", "age")),
        "s", threshold_lines=True, steps=thresholds(("green", None), ("orange", 5), ("red", 60)),
        legend_opts=legend("bottom", ("max", "lastNotNull")),
    ), 12, 6)
    L.add(table(
        "Counters that cannot be exported",
        "Counters the agent found but cannot export, with the reason (read_error, empty, malformed, "
        "bad_line, overflow, missing_hw_counters, not_available). Empty is healthy.",
        targets((f"efa_agent_unavailable{{{n}}}", ""), instant=True, fmt="table"),
        "none",
        transformations=[{"id": "organize", "options": {
            "excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True,
                              "instance": True, "cluster": True, "node": True},
            "indexByName": {"collector": 0, "device": 1, "port": 2, "counter": 3, "reason": 4},
            "renameByName": {}}}],
    ), 12, 6)
    L.add(stat(
        "Agent version",
        "The agent's version, source revision and .NET runtime (efa_agent_build_info).",
        targets((f"efa_agent_build_info{{{n}}}", "{{version}} ({{revision}}), .NET {{dotnet_version}}")),
        "none", color_mode="none", graph="none", text_mode="name",
    ), 6, 6)
    L.add(stat(
        "Devices per collector",
        "How many devices each collector reads: EFA devices, interfaces, GPUs. 0 for gpu on a node "
        "without NVIDIA GPUs is expected.",
        targets((f"efa_agent_collector_devices{{{n}}}", "{{collector}}")),
        "none", color_mode="none", graph="none", text_mode="value_and_name",
    ), 6, 6)

    variables = [
        datasource_variable(),
        query_variable("cluster", "Cluster", "label_values(efa_agent_build_info, cluster)",
                       include_all=True, all_value=".*",
                       description="Narrows the node list; the panels follow the node."),
        query_variable("node", "Node", 'label_values(efa_agent_build_info{cluster=~"$cluster"}, node)'),
        query_variable("device", "EFA device", 'label_values(efa_port_tx_bytes_total{node="$node"}, device)',
                       multi=True, include_all=True, all_value=".*"),
        query_variable("interface", "Interface",
                       'label_values(netdev_receive_bytes_total{node="$node",device!="lo"}, device)',
                       multi=True, include_all=True, all_value=".*"),
        query_variable("gpu", "GPU", 'label_values(gpu_up{node="$node"}, gpu)',
                       multi=True, include_all=True, all_value=".*"),
    ]
    annotations = [
        annotation("Xid", f'changes(gpu_xid_errors_total{{{n}}}[2m]) > 0',
                   "Xid {{xid}} ({{action}}) on GPU {{gpu}}", "red", "gpu,xid,action"),
        annotation("Agent restart", f"resets(efa_agent_ticks_total{{{n}}}[2m]) > 0",
                   "efa-agent restarted", "blue", "node"),
    ]
    links = [{
        "title": "Training job view",
        "type": "link",
        "url": "/d/efa-agent-job/efa-agent-job?${datasource:queryparam}&${cluster:queryparam}&${__url_time_range}",
        "icon": "dashboard",
        "tooltip": "All nodes of the cluster",
        "targetBlank": False,
        "asDropdown": False,
        "includeVars": False,
        "keepTime": False,
        "tags": [],
    }]
    return dashboard(
        "efa-agent-node", "efa-agent / Node",
        "One node: EFA devices, ENA interfaces, GPUs and the agent's own health.",
        ["efa-agent", "efa", "gpu"], variables, L.panels, annotations, links)


# ---------------------------------------------------------------------------
# Job / cluster dashboard
# ---------------------------------------------------------------------------
def job_dashboard():
    s = 'cluster=~"$cluster",node=~"$node"'
    not_on_efa = (f"(node:gpu_utilization_ratio:avg{{{s}}} > 0.5) "
                  f"unless on (job, instance) (node:efa_port_tx_bytes:rate1m{{{s}}} > 1e6)")
    node_link = [{"title": "Open node ${__field.labels.node}", "url": NODE_LINK}]
    L = Layout()

    L.row(row("Job overview", "The selected nodes at a glance."))
    L.add(stat(
        "Nodes reporting",
        "Nodes whose agent answers (efa_agent_build_info present).",
        targets((f"count(efa_agent_build_info{{{s}}})", "nodes")),
        "none", color_mode="none", graph="none",
    ), 3, 4)
    L.add(stat(
        "Nodes down",
        "Targets of the efa-agent scrape job that do not answer (up == 0). Not 0: see EfaAgentDown.",
        targets((f'count(up{{job="efa-agent",{s}}} == 0) or vector(0)', "down")),
        "none", steps=BAD_IF_ANY, graph="none",
    ), 3, 4)
    L.add(stat(
        "EFA throughput",
        "EFA bytes per second summed over the selected nodes (recording rules node:efa_port_*_bytes:rate1m).",
        targets((f"sum(node:efa_port_tx_bytes:rate1m{{{s}}})", "transmit"),
                (f"sum(node:efa_port_rx_bytes:rate1m{{{s}}})", "receive")),
        "Bps", color_mode="none", text_mode="value_and_name",
    ), 3, 4)
    L.add(stat(
        "ENA (TCP) throughput",
        "Bytes per second on the physical ENA interfaces of the selected nodes. Comparable to or above the EFA "
        "figure during training: some nodes run NCCL over sockets.",
        targets((f"sum(node:netdev_transmit_bytes:rate1m{{{s}}})", "transmit"),
                (f"sum(node:netdev_receive_bytes:rate1m{{{s}}})", "receive")),
        "Bps", color_mode="none", text_mode="value_and_name",
    ), 3, 4)
    L.add(stat(
        "Mean GPU utilisation",
        "Mean over the selected nodes of each node's mean GPU utilisation.",
        targets((f"avg(node:gpu_utilization_ratio:avg{{{s}}})", "mean")),
        "percentunit", steps=thresholds(("red", None), ("orange", 0.5), ("green", 0.8)),
    ), 3, 4)
    L.add(stat(
        "Least busy GPU",
        "The lowest GPU utilisation in the selection. Far below the mean during training: a straggler or an "
        "idle GPU (see \"Stragglers\").",
        targets((f"min(node:gpu_utilization_ratio:min{{{s}}})", "min")),
        "percentunit", steps=thresholds(("red", None), ("orange", 0.5), ("green", 0.8)),
    ), 3, 4)
    L.add(stat(
        "Busy nodes not on EFA",
        "Nodes whose GPUs are over 50% busy while EFA transmits under 1 MB/s. On a multi-node job these run "
        "their collectives over TCP; see the table \"Busy GPUs, idle EFA\".",
        targets((f"count({not_on_efa}) or vector(0)", "nodes")),
        "none", steps=BAD_IF_ANY, graph="none",
    ), 3, 4)
    L.add(stat(
        "Firing alerts",
        "Alerts firing for the selected nodes (Prometheus ALERTS); listed under \"Errors\".",
        targets((f'count(ALERTS{{alertstate="firing",{s}}}) or vector(0)', "alerts")),
        "none", steps=BAD_IF_ANY, graph="none",
    ), 3, 4)

    L.row(row("Throughput per node",
              "Legends are sorted by mean, lowest first: the slowest node is on top."))
    for title, rec, what in (
        ("EFA transmit per node", "node:efa_port_tx_bytes:rate1m", "EFA bytes transmitted"),
        ("EFA receive per node", "node:efa_port_rx_bytes:rate1m", "EFA bytes received"),
        ("ENA transmit per node", "node:netdev_transmit_bytes:rate1m", "Bytes transmitted on the physical ENA interfaces"),
        ("ENA receive per node", "node:netdev_receive_bytes:rate1m", "Bytes received on the physical ENA interfaces"),
    ):
        L.add(timeseries(
            title,
            f"{what} per second by each node (recording rule {rec}). In data-parallel training every node "
            "moves about the same; one node below the rest is the straggler. Click a series to open the node.",
            targets((f"{rec}{{{s}}}", "{{node}}")),
            "Bps", links=node_link,
            legend_opts=legend("right", ("mean", "lastNotNull"), sort_by="Mean", sort_desc=False),
        ), 12, 9)
    L.add(timeseries(
        "EFA vs ENA (selected nodes)",
        "EFA (solid) and ENA (dashed orange) bytes per second summed over the selected nodes. A training job "
        "on EFA keeps ENA small.",
        targets((f"sum(node:efa_port_tx_bytes:rate1m{{{s}}})", "EFA transmit"),
                (f"sum(node:efa_port_rx_bytes:rate1m{{{s}}})", "EFA receive"),
                (f"sum(node:netdev_transmit_bytes:rate1m{{{s}}})", "ENA transmit"),
                (f"sum(node:netdev_receive_bytes:rate1m{{{s}}})", "ENA receive")),
        "Bps",
        overrides=[override_regex("ENA.*", [
            ("custom.lineStyle", {"fill": "dash", "dash": [10, 10]}),
            ("color", {"mode": "fixed", "fixedColor": "orange"}),
        ])],
    ), 12, 8)
    L.add(timeseries(
        "Throughput per cluster",
        "EFA transmit (solid) and ENA transmit (dashed) bytes per second of each selected cluster, from the "
        "cluster:* recording rules (all nodes of the cluster, whatever the node selection).",
        targets((f'cluster:efa_port_tx_bytes:rate1m{{cluster=~"$cluster"}}', "{{cluster}} EFA"),
                (f'cluster:netdev_transmit_bytes:rate1m{{cluster=~"$cluster"}}', "{{cluster}} ENA")),
        "Bps",
        overrides=[override_regex(".* ENA", [("custom.lineStyle", {"fill": "dash", "dash": [10, 10]})])],
    ), 12, 8)

    L.row(row("GPUs", "Every GPU of the selected nodes."))
    L.add(heatmap(
        "GPU utilisation, node × GPU",
        "One row per node and GPU, one column per time step, coloured by utilisation (red idle, green busy). "
        "A row that stays red while the rest are green is an idle or failed GPU; a whole node's rows red is a "
        "node that dropped out of the job.",
        targets((f"gpu_utilization_ratio{{{s}}}", "{{node}} GPU {{gpu}}")),
        "percentunit",
    ), 24, 12)
    L.add(table(
        "GPU utilisation now, node × GPU",
        "Latest utilisation of every GPU: one row per node, one column per GPU index. Red under 50%, orange "
        "under 80%.",
        targets((f"gpu_utilization_ratio{{{s}}}", ""), instant=True, fmt="table"),
        "percentunit",
        steps=thresholds(("red", None), ("orange", 0.5), ("green", 0.8)),
        cell="color-background",
        transformations=[{"id": "groupingToMatrix", "options": {
            "columnField": "gpu", "rowField": "node", "valueField": "Value", "emptyValue": "null"}}],
        overrides=[override_name("node\\gpu", [
            ("custom.cellOptions", {"type": "auto"}),
            ("unit", "string"),
            ("displayName", "node"),
            ("links", node_link),
        ])],
    ), 24, 8)
    L.add(timeseries(
        "Least busy GPU per node",
        "Each node's lowest GPU utilisation (recording rule node:gpu_utilization_ratio:min). Sorted lowest "
        "first.",
        targets((f"node:gpu_utilization_ratio:min{{{s}}}", "{{node}}")),
        "percentunit", minimum=0, maximum=1, links=node_link,
        legend_opts=legend("right", ("mean", "lastNotNull"), sort_by="Mean", sort_desc=False),
    ), 12, 8)
    L.add(timeseries(
        "Lowest SM clock per node",
        "Each node's lowest GPU SM clock (recording rule node:gpu_sm_clock_hertz:min). A node below the others "
        "under the same load has a throttled GPU.",
        targets((f"node:gpu_sm_clock_hertz:min{{{s}}}", "{{node}}")),
        "hertz", links=node_link,
        legend_opts=legend("right", ("mean", "lastNotNull"), sort_by="Mean", sort_desc=False),
    ), 12, 8)
    L.add(timeseries(
        "GPU power per node",
        "Total GPU power draw of each node (recording rule node:gpu_power_watts:sum).",
        targets((f"node:gpu_power_watts:sum{{{s}}}", "{{node}}")),
        "watt", links=node_link,
        legend_opts=legend("right", ("mean", "lastNotNull"), sort_by="Mean", sort_desc=False),
    ), 12, 8)
    L.add(timeseries(
        "GPUs up per node",
        "GPUs NVML can read on each node (recording rule node:gpu_up:count): 8 on p4d/p5. A drop is a lost GPU.",
        targets((f"node:gpu_up:count{{{s}}}", "{{node}}")),
        "none", decimals=0, links=node_link,
        legend_opts=legend("right", ("min", "lastNotNull"), sort_by="Min", sort_desc=False),
    ), 12, 8)

    L.row(row("Stragglers",
              "In synchronous training the slowest node or GPU sets the pace. Click a bar to open the node."))
    L.add(bargauge(
        "Least busy GPUs",
        "The 10 GPUs with the lowest utilisation right now. During training they should be close to the "
        "rest; a GPU far below is idle (failed rank, lost GPU) or starved.",
        targets((f"bottomk(10, gpu_utilization_ratio{{{s}}})", "{{node}} GPU {{gpu}}"), instant=True),
        "percentunit", minimum=0, maximum=1, links=node_link,
        steps=thresholds(("red", None), ("orange", 0.5), ("green", 0.8)),
    ), 6, 9)
    L.add(bargauge(
        "Slowest EFA nodes",
        "The 10 nodes transmitting the fewest EFA bytes per second right now (node:efa_port_tx_bytes:rate1m).",
        targets((f"bottomk(10, node:efa_port_tx_bytes:rate1m{{{s}}})", "{{node}}"), instant=True),
        "Bps", links=node_link, steps=thresholds(("blue", None)),
    ), 6, 9)
    L.add(bargauge(
        "Lowest SM clocks",
        "The 10 GPUs with the lowest SM clock right now: throttled GPUs show up here while still reading "
        "100% busy.",
        targets((f"bottomk(10, gpu_sm_clock_hertz{{{s}}})", "{{node}} GPU {{gpu}}"), instant=True),
        "hertz", links=node_link, steps=thresholds(("blue", None)),
    ), 6, 9)
    L.add(bargauge(
        "Hottest GPUs",
        "The 10 hottest GPUs right now. Orange from 85 °C, red from 95 °C.",
        targets((f"topk(10, gpu_temperature_celsius{{{s}}})", "{{node}} GPU {{gpu}}"), instant=True),
        "celsius", minimum=20, maximum=100, links=node_link,
        steps=thresholds(("green", None), ("orange", 85), ("red", 95)),
    ), 6, 9)
    L.add(table(
        "Throttled GPUs now",
        "GPUs with a thermal or power clock event active right now (sw_thermal, hw_thermal, hw_slowdown, "
        "hw_power_brake). Empty is healthy.",
        targets((f'gpu_clock_event_active{{{s},reason=~"{THROTTLE_REASONS}"}} == 1', ""),
                instant=True, fmt="table"),
        "none",
        transformations=[{"id": "organize", "options": {
            "excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True,
                              "instance": True, "uuid": True},
            "indexByName": {"cluster": 0, "node": 1, "gpu": 2, "reason": 3, "pci_bus_id": 4},
            "renameByName": {}}}],
        links=node_link,
    ), 24, 6)

    L.row(row("Nodes not using EFA", "Busy GPUs with idle EFA, nodes missing EFA devices, and the ENA allowances that cap a job on sockets."))
    L.add(table(
        "Busy GPUs, idle EFA",
        "Nodes whose GPUs are over 50% busy while EFA transmits under 1 MB/s. High ENA bytes both ways: the "
        "job's collectives run over TCP sockets (see the EfaNotUsedWhileGpusBusy runbook: NCCL_DEBUG=INFO, "
        "aws-ofi-nccl, /dev/infiniband in the container). A single-node job legitimately shows here with "
        "little ENA traffic.",
        targets((not_on_efa, ""),
                (f"node:netdev_transmit_bytes:rate1m{{{s}}} and on (job, instance) ({not_on_efa})", ""),
                (f"node:netdev_receive_bytes:rate1m{{{s}}} and on (job, instance) ({not_on_efa})", ""),
                (f"node:efa_port_tx_bytes:rate1m{{{s}}} and on (job, instance) ({not_on_efa})", ""),
                instant=True, fmt="table"),
        "Bps",
        transformations=[
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {
                "excludeByName": {"Time": True, "job": True, "instance": True},
                "indexByName": {"cluster": 0, "node": 1},
                "renameByName": {"Value #A": "GPU utilisation", "Value #B": "ENA transmit",
                                 "Value #C": "ENA receive", "Value #D": "EFA transmit"}}},
        ],
        overrides=[override_name("GPU utilisation", [("unit", "percentunit")])],
        links=node_link,
    ), 14, 8)
    L.add(table(
        "Nodes missing EFA devices",
        "Nodes that see fewer EFA devices than their instance type has (efa_devices_expected - efa_devices). "
        "Usually a launch template with one EFA interface instead of one per network card.",
        targets((f"(efa_devices_expected{{{s}}} - on (job, instance) group_left () efa_devices{{{s}}}) > 0", ""),
                instant=True, fmt="table"),
        "none",
        transformations=[{"id": "organize", "options": {
            "excludeByName": {"Time": True, "job": True, "instance": True},
            "indexByName": {"cluster": 0, "node": 1, "instance_type": 2},
            "renameByName": {"Value": "EFA devices missing"}}}],
        overrides=[override_name("EFA devices missing", [
            ("custom.cellOptions", {"type": "color-background"}), ("thresholds", BAD_IF_ANY)])],
        links=node_link,
    ), 10, 8)

    L.add(timeseries(
        "ENA allowance drops per node",
        "Packets per second the ENA devices of each node queued or dropped because the instance exceeded a "
        "network allowance (bandwidth in/out, packets per second, connection tracking, link-local), summed "
        "over its interfaces, one line per node and allowance. A job fallen back to sockets is capped here: its all-reduce rate is the "
        "instance's allowance (alert EnaAllowanceExceeded).",
        targets(*[(f"sum by (node) (rate(ena_{a}_allowance_exceeded_total{{{s}}}[$__rate_interval]))", f"{{{{node}}}} {a}")
                  for a in ENA_ALLOWANCES]),
        "pps", links=node_link, legend_opts=legend("right", ("max", "lastNotNull")),
    ), 24, 8)

    L.row(row("Errors", "What went wrong where."))
    errs = [
        ("EFA rx drops", f"sum by (node) (increase(efa_port_rx_drops_total{{{s}}}[$__range]))"),
        ("EFA retransmits", f"sum by (node) (increase(efa_port_retrans_pkts_total{{{s}}}[$__range]))"),
        ("Retransmit timeouts", f"sum by (node) (increase(efa_port_retrans_timeout_events_total{{{s}}}[$__range]))"),
        ("Unresponsive peers", f"sum by (node) (increase(efa_port_unresponsive_remote_events_total{{{s}}}[$__range]))"),
        ("Impaired peers", f"sum by (node) (increase(efa_port_impaired_remote_conn_events_total{{{s}}}[$__range]))"),
        ("RDMA WR errors",
         f'sum by (node) (label_replace(increase(efa_port_rdma_read_wr_err_total{{{s}}}[$__range]), "op", "read", "", "")'
         f' or label_replace(increase(efa_port_rdma_write_wr_err_total{{{s}}}[$__range]), "op", "write", "", ""))'),
        ("EFA admin errors", f"sum by (node) (increase(efa_device_cmds_err_total{{{s}}}[$__range]))"),
        ("ENA errors",
         f'sum by (node) (increase(netdev_receive_errs_total{{{s},device!="lo"}}[$__range]))'
         f' + sum by (node) (increase(netdev_transmit_errs_total{{{s},device!="lo"}}[$__range]))'),
        ("Critical Xid", f'sum by (node) (increase(gpu_xid_errors_total{{{s},xid=~"{CRITICAL_XIDS}"}}[$__range]))'),
        ("Uncorrected ECC",
         f'sum by (node) (increase(gpu_ecc_errors_total{{{s},type="uncorrected",counter="volatile"}}[$__range]))'),
    ]
    L.add(table(
        "Error totals per node over the selected time range",
        "How many of each error every node counted over the dashboard's time range (red when not 0). "
        "Retransmit and peer counters exist only on EFA driver r2.17+ (kernel 6.17+). An Xid counter's very "
        "first event after an agent start is not visible to increase(); the GpuCriticalXid alert catches it.",
        targets(*[(expr, "") for _, expr in errs], instant=True, fmt="table"),
        "short",
        transformations=[
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {
                "excludeByName": {"Time": True},
                "indexByName": {"node": 0},
                "renameByName": {f"Value #{chr(ord('A') + i)}": name for i, (name, _) in enumerate(errs)}}},
        ],
        overrides=[override_regex("^(?!node$).*", [
            ("custom.cellOptions", {"type": "color-background"}),
            ("thresholds", BAD_IF_ANY),
            ("decimals", 0),
        ])],
        links=node_link,
    ), 24, 9)
    L.add(timeseries(
        "EFA error rates per node",
        "Per node and second: EFA receive drops and retransmitted packets, failed RDMA work requests and "
        "failed admin commands (recording rules node:efa_*:rate1m).",
        targets((f"node:efa_port_rx_drops:rate1m{{{s}}}", "{{node}} rx drops"),
                (f"node:efa_port_retrans_pkts:rate1m{{{s}}}", "{{node}} retransmits"),
                (f"node:efa_port_rdma_wr_err:rate1m{{{s}}}", "{{node}} WR errors"),
                (f"node:efa_device_cmds_err:rate1m{{{s}}}", "{{node}} admin errors")),
        "cps", links=node_link, legend_opts=legend("right", ("max", "lastNotNull")),
    ), 12, 8)
    L.add(timeseries(
        "Remote peer events per node",
        "Per node and second: retransmit timeouts, unresponsive remote peers and impaired remote connections. "
        "When every node reports them at once, look for the one peer they share (a node that is down or "
        "faulty).",
        targets((f"node:efa_port_retrans_timeout_events:rate1m{{{s}}}", "{{node}} retransmit timeouts"),
                (f"node:efa_port_unresponsive_remote_events:rate1m{{{s}}}", "{{node}} unresponsive"),
                (f"node:efa_port_impaired_remote_conn_events:rate1m{{{s}}}", "{{node}} impaired")),
        "cps", links=node_link, legend_opts=legend("right", ("max", "lastNotNull")),
    ), 12, 8)
    L.add(timeseries(
        "ENA errors and drops per node",
        "Per node: interface errors and drops per second on all interfaces but lo "
        "(recording rules node:netdev_errs:rate1m, node:netdev_drop:rate1m).",
        targets((f"node:netdev_errs:rate1m{{{s}}}", "{{node}} errors"),
                (f"node:netdev_drop:rate1m{{{s}}}", "{{node}} drops")),
        "pps", links=node_link, legend_opts=legend("right", ("max", "lastNotNull")),
    ), 12, 8)
    L.add(timeseries(
        "Xid events per node (per 5 minutes)",
        "Xid events per node in each 5-minute window, all codes (recording rule node:gpu_xid_errors:rate5m "
        "× 300). Which code and GPU: node dashboard, \"GPU errors\".",
        targets((f"node:gpu_xid_errors:rate5m{{{s}}} * 300", "{{node}}")),
        "short", links=node_link, legend_opts=legend("right", ("max", "lastNotNull")),
    ), 12, 8)
    L.add(table(
        "Firing alerts",
        "Alerts firing now for the selected nodes, with their severity. The alert's runbook annotation says "
        "what to check.",
        targets((f'ALERTS{{alertstate="firing",{s}}}', ""), instant=True, fmt="table"),
        "none",
        transformations=[{"id": "organize", "options": {
            "excludeByName": {"Time": True, "Value": True, "__name__": True, "alertstate": True,
                              "job": True, "instance": True, "uuid": True, "pci_bus_id": True},
            "indexByName": {"alertname": 0, "severity": 1, "cluster": 2, "node": 3},
            "renameByName": {}}}],
        links=node_link, sort_by=("severity", False),
    ), 24, 8)

    variables = [
        datasource_variable(),
        query_variable("cluster", "Cluster / job", "label_values(efa_agent_build_info, cluster)",
                       multi=True, include_all=True, all_value=".*",
                       description="The cluster or training-job label set by the scrape config."),
        query_variable("node", "Nodes", 'label_values(efa_agent_build_info{cluster=~"$cluster"}, node)',
                       multi=True, include_all=True, all_value=".*",
                       description="All nodes of the selected clusters, or a subset."),
    ]
    annotations = [
        annotation("Critical Xid",
                   f'changes(gpu_xid_errors_total{{{s},xid=~"{CRITICAL_XIDS}"}}[2m]) > 0',
                   "Xid {{xid}} on {{node}} GPU {{gpu}}", "red", "node,gpu,xid"),
    ]
    links = [{
        "title": "Node view",
        "type": "dashboards",
        "tags": ["efa-agent"],
        "asDropdown": True,
        "includeVars": False,
        "keepTime": True,
        "icon": "external link",
        "targetBlank": False,
        "tooltip": "",
        "url": "",
    }]
    return dashboard(
        "efa-agent-job", "efa-agent / Training job",
        "The nodes of a training job or cluster: per-node EFA throughput, GPU utilisation across node × GPU, "
        "stragglers, nodes not using EFA, and errors.",
        ["efa-agent", "efa", "gpu"], variables, L.panels, annotations, links)


DASHBOARDS = {
    "efa-agent-node.json": node_dashboard,
    "efa-agent-job.json": job_dashboard,
}


def render(build):
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv):
    check = "--check" in argv
    stale = []
    OUT.mkdir(exist_ok=True)
    for name, build in DASHBOARDS.items():
        text = render(build)
        path = OUT / name
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(HERE.parent.parent)}")
    if stale:
        print("out of date (run deploy/grafana/generate.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
