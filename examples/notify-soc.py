#!/usr/bin/env python3
"""Example alert command for a site file's `alerts.command`: camscan writes the diff (schema camscan.diff/1,
plus "alerts": the rules that fired) to standard input. This one prints a one-line summary per change;
replace the print with your ticketing or chat tool."""

import json
import sys

alert = json.load(sys.stdin)
print(f"camscan: site {alert['site']}: {', '.join(alert['alerts'])}")
for d in alert["added"]:
    print(f"  new device {d['ip']} {d['vendor'] or '?'} {d['model'] or ''} {d['category']} "
          f"concerns={','.join(d['concerns']) or '-'}")
for d in alert["removed"]:
    print(f"  gone {d['ip']} {d['vendor'] or '?'} {d['model'] or ''}")
for c in alert["changed"]:
    print(f"  changed {c['device']['ip']} ({c['matched_by']}): {', '.join(c['changes'])}")
