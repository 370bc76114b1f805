#!/bin/sh
# HAProxy external-check command doing a DICOM C-ECHO with DCMTK echoscu (the
# method of appliances that ship an "echoscu" health check). Only used by
# tests/benchmarks/check_cpu.py to compare its cost with the role's native
# tcp-check. HAProxy calls: CMD PROXY_ADDR PROXY_PORT SERVER_ADDR SERVER_PORT
# The benchmark counts executions when it has created the count file.
if [ -f /run/pacs-lb-perf-external-checks ]; then printf x >> /run/pacs-lb-perf-external-checks; fi
exec /usr/bin/echoscu -to 5 -aet LBCHECK -aec ORTHANC "$3" "$4"
