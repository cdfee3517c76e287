"""Run `junheng run` and say where its time and memory went, stage by stage.

usage: profile.py SUMMARY.json -- junheng run ...

Runs the command with RUST_LOG=junheng=info, timestamps each line junheng logs ("stage ingest
started", "model quality_assessment built seconds=…", …), samples the process's resident memory
and CPU time every 0.2 s from /proc, and at the end takes its exact wall time, CPU time and peak
RSS from wait4(2). Writes SUMMARY.json:

    {"wall": s, "cpu": s, "rss_mib": MiB, "exit": code,
     "stages": [{"name", "wall", "cpu", "peak_rss_mib"}],   # plan, ingest, transform, publish
     "models": {"quality_assessment": seconds, ...},       # each SQL model over all county groups
     "publish": {"report": seconds, ...}}                  # each step of the publish stage

A stage's CPU is the difference of two samples, so it is right to about 0.2 s. With
PROFILE_TRACE=FILE set, every sample and log line also goes to FILE (JSON).
"""
import json
import os
import re
import subprocess
import sys
import threading
import time

summary_path = sys.argv[1]
command = sys.argv[sys.argv.index("--") + 1 :]
env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "junheng=info"), NO_COLOR="1")
started = time.monotonic()
child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
ticks = os.sysconf("SC_CLK_TCK")
samples = []  # (seconds since start, rss MiB, cpu seconds)


def sample():
    while True:
        try:
            with open(f"/proc/{child.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # after the name: state is field 3, utime 14, stime 15, rss (pages) 24
            cpu = (int(fields[11]) + int(fields[12])) / ticks
            rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, IndexError, ValueError):
            return
        if fields[0] == "Z":
            return
        samples.append((time.monotonic() - started, rss, cpu))
        time.sleep(0.2)


sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
events = []  # (seconds, message)
ansi = re.compile(r"\x1b\[[0-9;]*m")
for line in child.stderr:
    line = ansi.sub("", line)
    events.append((time.monotonic() - started, line.rstrip()))
    if " INFO " not in line:
        sys.stderr.write(line)
_, status, usage = os.wait4(child.pid, 0)
wall = time.monotonic() - started
sampler.join()
exit_code = os.waitstatus_to_exitcode(status)


def state_at(t):
    """The last sample at or before t (CPU is cumulative)."""
    before = [s for s in samples if s[0] <= t]
    return before[-1] if before else (0.0, 0.0, 0.0)


stage_marks = []  # (name, start, end)
models = {}
publish = {}
for t, message in events:
    if " INFO " not in message:
        continue
    if m := re.search(r"stage (\w+) started", message):
        stage_marks.append([m.group(1), t, None])
    elif m := re.search(r"stage (\w+) finished", message):
        for mark in stage_marks:
            if mark[0] == m.group(1):
                mark[2] = t
    elif m := re.search(r"model (\w+) built seconds=([0-9.e-]+)", message):
        models[m.group(1)] = float(m.group(2))
    elif m := re.search(r"publish: ([^:]+) done seconds=([0-9.e-]+)", message):
        publish[m.group(1)] = float(m.group(2))

cpu_total = usage.ru_utime + usage.ru_stime
bounds = [("plan", 0.0, stage_marks[0][1] if stage_marks else wall)]
bounds += [(name, start, end if end is not None else wall) for name, start, end in stage_marks]
stages = []
for name, start, end in bounds:
    first = state_at(start)
    last = state_at(end) if end < wall else (wall, 0.0, cpu_total)
    peak = max((s[1] for s in samples if start <= s[0] <= end), default=0.0)
    stages.append({"name": name, "wall": end - start, "cpu": last[2] - first[2], "peak_rss_mib": peak})

summary = {
    "wall": wall,
    "cpu": cpu_total,
    "rss_mib": usage.ru_maxrss / 1024,
    "exit": exit_code,
    "stages": stages,
    "models": models,
    "publish": publish,
}
with open(summary_path, "w") as f:
    json.dump(summary, f, indent=1)
if trace := os.environ.get("PROFILE_TRACE"):
    # every sample and log line, for a closer look (e.g. which model held the peak)
    with open(trace, "w") as f:
        json.dump({"samples": samples, "events": events}, f)
sys.exit(exit_code)
