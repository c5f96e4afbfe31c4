#!/usr/bin/env python3
"""Check the efa-agent dashboards without a Grafana server.

    python3 deploy/grafana/check.py                 # all checks
    python3 deploy/grafana/check.py --list-metrics  # metric names used by the
                                                    # dashboards and the rules

Structure (every dashboard):
  - schemaVersion 39, a unique uid, a `datasource` variable of type datasource
    (query prometheus);
  - every panel (rows included), query, query variable and annotation query
    uses that variable as its data source;
  - unique integer panel ids, gridPos inside the 24 columns, no two panels
    overlapping;
  - every panel has a description and a known Grafana unit
    (fieldConfig.defaults.unit); every query has a unique refId;
  - every $variable used in a query is defined;
  - every metric name in a query is one the agent exports, a recording rule
    of deploy/prometheus/rules, `up` or `ALERTS`.
PromQL (with promtool): each query, with the variables filled in, is
evaluated against a fixture of two nodes (one training on EFA, one fallen
back to sockets with errors) plus the recording and alerting rules, and must
return data. That catches syntax errors, wrong label names and metric typos.
"""

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RULES = REPO / "deploy" / "prometheus" / "rules"
DASHBOARDS = sorted((HERE / "dashboards").glob("*.json"))
DS = {"type": "prometheus", "uid": "${datasource}"}

# Grafana unit ids (packages/grafana-data/src/valueFormats/categories.ts) that
# the dashboards may use.
UNITS = {
    "none", "short", "string", "percent", "percentunit", "bytes", "decbytes",
    "bits", "Bps", "binBps", "bps", "pps", "cps", "ops", "s", "ms", "hertz",
    "watt", "joule", "celsius", "dateTimeFromNow", "dateTimeAsIso", "dtdurations",
}

# What the agent exports (names fixed by the agent's design; efa_port_<file>_total
# and efa_device_<file>_total exist for every counter file, only these are used).
AGENT_METRICS = {
    # EFA port
    "efa_port_tx_bytes_total", "efa_port_rx_bytes_total", "efa_port_tx_pkts_total",
    "efa_port_rx_pkts_total", "efa_port_rx_drops_total", "efa_port_send_bytes_total",
    "efa_port_recv_bytes_total", "efa_port_rdma_read_bytes_total", "efa_port_rdma_write_bytes_total",
    "efa_port_rdma_read_wr_err_total", "efa_port_rdma_write_wr_err_total",
    "efa_port_retrans_bytes_total", "efa_port_retrans_pkts_total",
    "efa_port_retrans_timeout_events_total", "efa_port_unresponsive_remote_events_total",
    "efa_port_impaired_remote_conn_events_total",
    "efa_port_transmit_peak_bytes_per_second", "efa_port_receive_peak_bytes_per_second",
    # EFA device
    "efa_device_cmds_err_total", "efa_device_no_completion_cmds_total",
    "efa_device_create_qp_err_total", "efa_device_reg_mr_err_total",
    # RDMA / node
    "rdma_device_info", "rdma_port_rate_bytes_per_second",
    "efa_devices", "efa_devices_expected", "efa_node_info",
    # netdev
    "netdev_receive_bytes_total", "netdev_transmit_bytes_total",
    "netdev_receive_packets_total", "netdev_transmit_packets_total",
    "netdev_receive_errs_total", "netdev_transmit_errs_total",
    "netdev_receive_drop_total", "netdev_transmit_drop_total",
    "netdev_receive_peak_bytes_per_second", "netdev_transmit_peak_bytes_per_second",
    # ethtool (ENA allowances)
    "ethtool_info", "ena_bw_in_allowance_exceeded_total", "ena_bw_out_allowance_exceeded_total",
    "ena_pps_allowance_exceeded_total", "ena_conntrack_allowance_exceeded_total",
    "ena_linklocal_allowance_exceeded_total", "ena_conntrack_allowance_available",
    # GPU
    "gpu_up", "gpu_info", "gpu_utilization_ratio", "gpu_memory_utilization_ratio",
    "gpu_memory_used_bytes", "gpu_memory_free_bytes", "gpu_memory_total_bytes",
    "gpu_power_watts", "gpu_energy_joules_total", "gpu_temperature_celsius",
    "gpu_memory_temperature_celsius", "gpu_sm_clock_hertz", "gpu_memory_clock_hertz",
    "gpu_clock_event_active", "gpu_nvlink_transmit_bytes_total", "gpu_nvlink_receive_bytes_total",
    "gpu_pcie_transmit_bytes_total", "gpu_pcie_receive_bytes_total", "gpu_ecc_errors_total",
    "gpu_remapped_rows_total", "gpu_remapped_rows_pending", "gpu_remapped_rows_failed",
    "gpu_retired_pages_total", "gpu_retired_pages_pending", "gpu_nvlink_errors_total",
    "gpu_pcie_replays_total", "gpu_throttle_seconds_total", "gpu_process_memory_used_bytes",
    "gpu_xid_errors_total", "gpu_last_xid_timestamp_seconds", "gpu_nvml_up", "gpu_nvml_stalled",
    "gpu_xid_events_dropped_total", "gpu_xid_unattributed_total",
    "gpu_pcie_link_generation", "gpu_pcie_link_max_generation", "gpu_pcie_link_width",
    "gpu_pcie_link_max_width", "gpu_nvlink_links", "gpu_nvlink_links_active",
    # agent
    "efa_agent_build_info", "efa_agent_collector_success", "efa_agent_collector_duration_seconds",
    "efa_agent_collector_devices", "efa_agent_collector_errors_total",
    "efa_agent_last_sample_timestamp_seconds", "efa_agent_tick_duration_seconds",
    "efa_agent_ticks_total", "efa_agent_tick_overruns_total", "efa_agent_sample_interval_seconds",
    "efa_agent_unavailable",
}
PROMETHEUS_METRICS = {"up", "ALERTS"}

PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "inf", "nan", "atan2",
}
GRAFANA_VARS = {"__rate_interval", "__interval", "__range", "__range_s", "__interval_ms"}


def recording_rules():
    names = []
    for path in sorted(RULES.glob("*.yml")):
        names += re.findall(r"^\s*- record:\s*(\S+)", path.read_text(), re.M)
    return set(names)


def metric_names(expr):
    """Metric names in a PromQL expression (a small scanner, enough for ours)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # strings
    e = re.sub(r"\{[^}]*\}", "", e)                          # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                         # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"\$\{?\w+\}?", "", e)                        # variables
    names = set()
    for m in re.finditer(r"(?<![\w.$:])([A-Za-z_:][A-Za-z0-9_:]*)(?![A-Za-z0-9_:])(?!\s*\()", e):
        word = m.group(1)
        if word.lower() in PROMQL_WORDS or re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.add(word)
    return names


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def queries(dash):
    """(where, expr) for every PromQL expression of a dashboard."""
    out = []
    for p in walk_panels(dash["panels"]):
        for t in p.get("targets", []):
            out.append((f'panel {p["id"]} "{p["title"]}" {t.get("refId")}', t.get("expr", "")))
    for a in dash["annotations"]["list"]:
        if "expr" in a:
            out.append((f'annotation "{a["name"]}"', a["expr"]))
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", v["query"])
            if not m:
                out.append((f'variable {v["name"]}', "!unparsable " + v["query"]))
            else:
                out.append((f'variable {v["name"]}', f"count by ({m.group(2)}) ({m.group(1)})"))
    return out


def overlaps(a, b):
    return not (a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
                or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"])


def check_structure(path, dash, known_metrics, errors):
    def err(msg):
        errors.append(f"{path.name}: {msg}")

    if dash.get("schemaVersion") != 39:
        err(f"schemaVersion is {dash.get('schemaVersion')}, want 39")
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    dsv = variables.get("datasource")
    if not dsv or dsv["type"] != "datasource" or dsv.get("query") != "prometheus":
        err("no `datasource` variable of type datasource with query prometheus")
    for v in variables.values():
        if v["type"] == "query" and v.get("datasource") != DS:
            err(f"variable {v['name']} does not use ${{datasource}}")
    for a in dash["annotations"]["list"]:
        if a.get("builtIn"):
            continue
        if a.get("datasource") != DS:
            err(f"annotation {a['name']} does not use ${{datasource}}")

    panels = list(walk_panels(dash["panels"]))
    ids = [p.get("id") for p in panels]
    if len(set(ids)) != len(ids) or not all(isinstance(i, int) for i in ids):
        err(f"panel ids are not unique integers: {ids}")
    for p in panels:
        name = f'panel {p.get("id")} "{p.get("title")}"'
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in ("x", "y", "w", "h")) or g["x"] < 0 or g["x"] + g["w"] > 24:
            err(f"{name}: bad gridPos {g}")
        if p.get("datasource") != DS:
            err(f"{name}: datasource is {p.get('datasource')}")
        if not str(p.get("description", "")).strip():
            err(f"{name}: no description")
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
        if unit not in UNITS:
            err(f"{name}: unit {unit!r} is missing or unknown")
        if p["type"] != "row" and not p.get("targets"):
            err(f"{name}: no queries")
        refs = [t.get("refId") for t in p.get("targets", [])]
        if len(set(refs)) != len(refs):
            err(f"{name}: duplicate refIds {refs}")
        for t in p.get("targets", []):
            if t.get("datasource") != DS:
                err(f"{name} {t.get('refId')}: datasource is {t.get('datasource')}")
            if not t.get("expr", "").strip():
                err(f"{name} {t.get('refId')}: empty expr")
    for i, a in enumerate(panels):
        for b in panels[i + 1:]:
            if overlaps(a["gridPos"], b["gridPos"]):
                err(f'panels {a["id"]} "{a["title"]}" and {b["id"]} "{b["title"]}" overlap')

    for where, expr in queries(dash):
        for var in re.findall(r"\$\{?(\w+)", expr):
            if var not in variables and var not in GRAFANA_VARS:
                err(f"{where}: undefined variable ${var}")
        for metric in metric_names(expr):
            if metric not in known_metrics:
                err(f"{where}: unknown metric {metric}")


# ---------------------------------------------------------------------------
# Fixture: two p4d nodes of cluster c1, 25 minutes of 15 s samples.
#   i-a trains over EFA, healthy.
#   i-b runs NCCL over TCP (busy GPUs, flat EFA, busy ENA), misses an EFA
#       device, has errors, a throttled GPU, a new Xid at 20m and an agent
#       restart at 20m.
# ---------------------------------------------------------------------------
N = 100


def fixture_series():
    s = []

    def add(name, labels, values):
        lbl = ",".join(f'{k}="{v}"' for k, v in labels.items())
        s.append((f"{name}{{{lbl}}}", values))

    for i, node in enumerate(("i-a", "i-b"), start=1):
        bad = node == "i-b"
        t = {"job": "efa-agent", "instance": f"10.0.0.{i}:19400", "cluster": "c1", "node": node}
        add("up", t, f"1x{N}")
        add("efa_agent_build_info", {**t, "version": "0.1.0", "revision": "abc1234", "dotnet_version": "10.0.0"}, f"1x{N}")
        add("efa_agent_last_sample_timestamp_seconds", t, f"0+15x{N}")
        add("efa_agent_ticks_total", t, f"0+60x80 0+60x{N - 81}" if bad else f"0+60x{N}")
        add("efa_agent_tick_overruns_total", t, f"0+1x{N}")
        add("efa_agent_tick_duration_seconds", t, f"0.02x{N}")
        add("efa_agent_sample_interval_seconds", t, f"0.25x{N}")
        for c in ("efa", "netdev", "gpu"):
            ct = {**t, "collector": c}
            add("efa_agent_collector_success", ct, f"1x{N}")
            add("efa_agent_collector_duration_seconds", ct, f"0.005x{N}")
            add("efa_agent_collector_devices", ct, f"4x{N}")
            add("efa_agent_collector_errors_total", ct, f"0+1x{N}" if bad else f"0x{N}")
        if bad:
            add("efa_agent_unavailable", {**t, "collector": "efa", "device": "rdmap16s27", "port": "1",
                                                  "counter": "tx_bytes", "reason": "read_error"}, f"1x{N}")
        add("efa_node_info", {**t, "instance_type": "p4d.24xlarge"}, f"1x{N}")
        add("efa_devices", t, f"{3 if bad else 4}x{N}")
        add("efa_devices_expected", {**t, "instance_type": "p4d.24xlarge"}, f"4x{N}")
        devices = ("rdmap16s27", "rdmap32s27", "rdmap144s27") + (() if bad else ("rdmap160s27",))
        for d in devices:
            dt = {**t, "device": d}
            pt = {**dt, "port": "1"}
            add("rdma_port_rate_bytes_per_second", pt, f"12.5e9x{N}")
            traffic = "1000" if bad else "0+15e9"
            for c in ("tx_bytes", "rx_bytes", "send_bytes", "recv_bytes", "rdma_read_bytes"):
                add(f"efa_port_{c}_total", pt, f"{traffic}x{N}")
            add("efa_port_rdma_write_bytes_total", pt, f"0x{N}")
            add("efa_port_tx_pkts_total", pt, f"0+1.5e6x{N}")
            add("efa_port_transmit_peak_bytes_per_second", pt, f"{'1e3' if bad else '1.2e9'}x{N}")
            add("efa_port_receive_peak_bytes_per_second", pt, f"{'1e3' if bad else '1.2e9'}x{N}")
            err = "0+3" if bad else "0"
            for c in ("rx_drops", "retrans_pkts", "retrans_timeout_events", "unresponsive_remote_events",
                      "impaired_remote_conn_events", "rdma_read_wr_err", "rdma_write_wr_err"):
                add(f"efa_port_{c}_total", pt, f"{err}x{N}")
            for c in ("cmds_err", "no_completion_cmds", "create_qp_err", "reg_mr_err"):
                add(f"efa_device_{c}_total", dt, f"{err}x{N}")
        for iface, rate in (("lo", "0+1.5e9"), ("ens32", "0+1.5e9" if bad else "0+15e6")):
            it = {**t, "device": iface}
            add("netdev_transmit_bytes_total", it, f"{rate}x{N}")
            add("netdev_receive_bytes_total", it, f"{rate}x{N}")
            add("netdev_transmit_peak_bytes_per_second", it, f"2e8x{N}")
            add("netdev_receive_peak_bytes_per_second", it, f"2e8x{N}")
            for c in ("receive_errs", "transmit_errs", "receive_drop", "transmit_drop"):
                add(f"netdev_{c}_total", it, f"{'0+2' if bad and iface != 'lo' else '0'}x{N}")
        # The TCP node runs into its bandwidth and packet-rate allowances.
        add("ethtool_info", {**t, "device": "ens32", "driver": "ena", "driver_version": "2.13.0g",
                             "firmware_version": "", "bus_info": "0000:10:1a.0"}, f"1x{N}")
        for a in ("bw_in", "bw_out", "pps", "conntrack", "linklocal"):
            shaped = bad and a in ("bw_out", "pps")
            add(f"ena_{a}_allowance_exceeded_total", {**t, "device": "ens32"}, f"{'0+900' if shaped else '0'}x{N}")
        add("ena_conntrack_allowance_available", {**t, "device": "ens32"}, f"512000x{N}")
        add("gpu_nvml_up", t, f"1x{N}")
        add("gpu_nvml_stalled", t, f"0x{N}")
        if bad:
            add("gpu_last_xid_timestamp_seconds", {**t, "gpu": "3", "uuid": "GPU-b3",
                                                  "pci_bus_id": "00000000:40:1C.0"}, f"0x80 1200x{N - 81}")
        for g in range(2):
            gt = {**t, "gpu": str(g), "uuid": f"GPU-{node[-1]}{g}", "pci_bus_id": f"00000000:{0x10 + g * 0x10:02X}:1C.0"}
            add("gpu_up", gt, f"1x{N}")
            add("gpu_utilization_ratio", gt, f"0.9{g}x{N}")
            add("gpu_memory_used_bytes", gt, f"60e9x{N}")
            add("gpu_memory_total_bytes", gt, f"80e9x{N}")
            add("gpu_power_watts", gt, f"400x{N}")
            add("gpu_temperature_celsius", gt, f"70x{N}")
            add("gpu_memory_temperature_celsius", gt, f"75x{N}")
            add("gpu_sm_clock_hertz", gt, f"1.41e9x{N}")
            add("gpu_memory_clock_hertz", gt, f"1.593e9x{N}")
            for r in ("gpu_idle", "sw_power_cap", "hw_thermal"):
                active = r == "sw_power_cap" or (bad and g == 1 and r == "hw_thermal")
                add("gpu_clock_event_active", {**gt, "reason": r}, f"{1 if active else 0}x{N}")
            add("gpu_throttle_seconds_total", {**gt, "reason": "hw_thermal"}, f"{'0+3' if bad else '0'}x{N}")
            for c in ("nvlink_transmit_bytes", "nvlink_receive_bytes", "pcie_transmit_bytes", "pcie_receive_bytes"):
                add(f"gpu_{c}_total", gt, f"0+1.5e9x{N}")
            for typ in ("corrected", "uncorrected"):
                add("gpu_ecc_errors_total", {**gt, "type": typ, "counter": "volatile"}, f"{'0+1' if bad else '0'}x{N}")
            add("gpu_remapped_rows_total", {**gt, "type": "uncorrectable"}, f"0x{N}")
            add("gpu_remapped_rows_pending", gt, f"0x{N}")
            add("gpu_remapped_rows_failed", gt, f"0x{N}")
            add("gpu_retired_pages_pending", gt, f"0x{N}")
            add("gpu_nvlink_errors_total", {**gt, "type": "crc_flit"}, f"0x{N}")
            add("gpu_pcie_replays_total", gt, f"0x{N}")
            add("gpu_process_memory_used_bytes", {**gt, "pid": "4242"}, f"50e9x{N}")
            if bad and g == 1:
                add("gpu_xid_errors_total", {**gt, "xid": "79"}, f"_x40 1x40 2x{N - 80}")
    return s


def substitute(expr, variables):
    for k, v in sorted(variables.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace("${" + k + "}", v).replace("$" + k, v)
    return expr


VALUES = {
    "efa-agent-node.json": {"cluster": ".*", "node": "i-b", "device": ".*", "gpu": ".*", "interface": ".*"},
    "efa-agent-job.json": {"cluster": "c1", "node": "i-a|i-b"},
}
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "25m"}


def check_promql(dash_queries, errors):
    """dash_queries: (dashboard, where, expr). Every expr must return data."""
    tests = []
    for i, (dash, where, expr) in enumerate(dash_queries):
        e = substitute(expr, {**VALUES[dash], **BUILTINS})
        tests.append({
            "expr": f"(count({e}) > bool 0) or vector(0)",
            "eval_time": "21m",
            "exp_samples": [{"labels": "{}", "value": 1}],
            "_where": f"{dash}: {where}",
        })
    with tempfile.TemporaryDirectory() as tmp:
        test_file = Path(tmp) / "dashboards.test.yml"
        lines = ["rule_files:"]
        for path in sorted(RULES.glob("*.yml")):
            lines.append(f"  - {json.dumps(str(path))}")
        lines += ["evaluation_interval: 15s", "tests:", "  - interval: 15s", "    input_series:"]
        for series, values in fixture_series():
            lines.append(f"      - series: {json.dumps(series)}")
            lines.append(f"        values: {json.dumps(values)}")
        lines.append("    promql_expr_test:")
        for t in tests:
            lines.append(f"      - expr: {json.dumps(t['expr'])}")
            lines.append(f"        eval_time: {t['eval_time']}")
            lines.append("        exp_samples:")
            lines.append("          - labels: '{}'")
            lines.append("            value: 1")
        test_file.write_text("\n".join(lines) + "\n")
        result = subprocess.run(["promtool", "test", "rules", str(test_file)],
                                capture_output=True, text=True)
    if result.returncode == 0:
        return len(tests)
    out = result.stdout + result.stderr
    # Map failures back to the dashboard query.
    reported = False
    for t in tests:
        if t["expr"] in out or json.dumps(t["expr"])[1:-1] in out:
            errors.append(f"{t['_where']}: query fails or returns no data on the fixture: {t['expr']}")
            reported = True
    if not reported:
        errors.append("promtool failed:\n" + out[-4000:])
    return len(tests)


def list_metrics(known_metrics):
    used_dash = set()
    for path in DASHBOARDS:
        for _, expr in queries(json.loads(path.read_text())):
            used_dash |= metric_names(expr)
    used_rules = set()
    import yaml  # only this listing needs PyYAML
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                used_rules |= metric_names(rule["expr"])
    rules = recording_rules()
    print("# Agent metrics used by the dashboards")
    print("\n".join(sorted(used_dash & AGENT_METRICS)))
    print("\n# Recording rules used by the dashboards")
    print("\n".join(sorted(used_dash & rules)))
    print("\n# Other series used by the dashboards")
    print("\n".join(sorted(used_dash - AGENT_METRICS - rules)))
    print("\n# Agent metrics used by the recording and alerting rules")
    print("\n".join(sorted(used_rules & AGENT_METRICS)))
    print("\n# Other series used by the rules")
    print("\n".join(sorted(used_rules - AGENT_METRICS - rules)))
    unknown = (used_dash | used_rules) - known_metrics
    if unknown:
        print("\n# UNKNOWN: " + " ".join(sorted(unknown)))
        return 1
    return 0


def main(argv):
    known = AGENT_METRICS | PROMETHEUS_METRICS | recording_rules()
    if "--list-metrics" in argv:
        return list_metrics(known)
    errors = []
    uids = set()
    all_queries = []
    for path in DASHBOARDS:
        try:
            dash = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            errors.append(f"{path.name}: invalid JSON: {e}")
            continue
        if dash.get("uid") in uids:
            errors.append(f"{path.name}: duplicate uid {dash.get('uid')}")
        uids.add(dash.get("uid"))
        check_structure(path, dash, known, errors)
        all_queries += [(path.name, where, expr) for where, expr in queries(dash)]
    if len(DASHBOARDS) < 2:
        errors.append("expected the node and job dashboards under deploy/grafana/dashboards")
    n = check_promql(all_queries, errors)
    for e in errors:
        print("FAIL " + e, file=sys.stderr)
    if errors:
        return 1
    panels = sum(len(list(walk_panels(json.loads(p.read_text())["panels"]))) for p in DASHBOARDS)
    print(f"ok: {len(DASHBOARDS)} dashboards, {panels} panels, {n} queries return data on the fixture")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
