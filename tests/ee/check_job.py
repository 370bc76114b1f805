"""Judge an ansible-runner job the way AWX shows it: status, job events, artifacts.

    python check_job.py ARTIFACT_DIR --expect-status successful [--expect-ok]
                        [--expect-check-mode] [--expect-diff TEXT]
"""
import argparse
import glob
import json
import os
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("artifacts")
    parser.add_argument("--expect-status", required=True)
    parser.add_argument("--expect-ok", action="store_true")
    parser.add_argument("--expect-check-mode", action="store_true")
    parser.add_argument("--expect-diff")
    args = parser.parse_args()
    problems = []

    with open(os.path.join(args.artifacts, "status")) as handle:
        status = handle.read().strip()
    events = []
    for path in glob.glob(os.path.join(args.artifacts, "job_events", "*.json")):
        with open(path) as handle:
            events.append(json.load(handle))
    events.sort(key=lambda e: e.get("counter", 0))
    failed = [e for e in events if e.get("event") in ("runner_on_failed", "runner_on_unreachable")
              and not e["event_data"].get("ignore_errors")]
    print("status %s, %d job events, %d failed or unreachable" % (status, len(events), len(failed)))
    if status != args.expect_status:
        problems.append("status %s, expected %s" % (status, args.expect_status))
        for event in failed[:5]:
            data = event["event_data"]
            problems.append("  %s %s: %s" % (data.get("host"), data.get("task"), str(data.get("res", {}).get("msg"))[:300]))

    stats = [e for e in events if e.get("event") == "playbook_on_stats"]
    report = stats[-1]["event_data"].get("artifact_data", {}).get("pacs_lb_verify") if stats else None
    if report is None:
        problems.append("no pacs_lb_verify in the job's artifact_data (set_stats)")
    else:
        for row in report["services"]:
            print("  %-8s %s:%s %-5s %s servers %s/%s" % (
                row["service"], row["vip"], row["port"], "OK" if row["ok"] else "FAIL", row["detail"],
                row["servers_up"], row["servers_total"]))
        for name, bal in sorted(report["balancers"].items()):
            print("  %s: haproxy %s, keepalived %s, %s" % (name, bal["haproxy"], bal["vrrp"], ", ".join(
                "%s %s" % (i["name"], i["state"]) for i in bal["vrrp_instances"])))
        for line in report["problems"] + ["(not confirmed) " + u for u in report["unconfirmed"]]:
            print("  " + line)
        if args.expect_ok and not report["ok"]:
            problems.append("verify found problems: %s" % report["problems"])
        if args.expect_check_mode and not report["check_mode"]:
            problems.append("verify did not run in check mode")
        if not os.path.isfile(os.path.join(report["report_dir"].replace("/runner/artifacts/job", args.artifacts),
                                           "verify.md")):
            problems.append("no verify.md in the job's artifact directory (%s)" % report["report_dir"])
    if args.expect_diff:
        diffs = [e for e in events if e.get("event") == "runner_on_ok"
                 and args.expect_diff in json.dumps(e["event_data"].get("res", {}).get("diff", ""))]
        print("  %d task result(s) with a diff naming %s" % (len(diffs), args.expect_diff))
        if not diffs:
            problems.append("no diff names %s" % args.expect_diff)
    for line in problems:
        print("FAIL: " + line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
