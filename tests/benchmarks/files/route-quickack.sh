#!/bin/sh
# Turn delayed ACKs off (quickack 1) on the balancer's routes, so that the
# balancer acknowledges every segment at once. Endpoints that leave Nagle's
# algorithm on (stock DCMTK, Orthanc, most modalities) then never wait the
# ~40 ms delayed-ACK timer for the balancer: see docs/performance.md.
#
# Usage: route-quickack.sh on|off|status [DEV...]
#   on      add "quickack 1" to every IPv4/IPv6 route of table main (only those
#           through DEV... when given); prints "changed: ROUTE" for each change
#   off     remove it again ("quickack 0")
#   status  list the routes without quickack; exit 1 if there is one
# Idempotent: a route that already has the wanted value is left alone.
# Multipath routes are skipped with a warning (change them by hand); IPv6
# link-local routes (fe80::/64) are left alone.
set -eu

action=${1:-status}
shift || true
devs="$*"
case "$action" in
    on|off|status) ;;
    *) echo "usage: $0 on|off|status [DEV...]" >&2; exit 2 ;;
esac

want() {
    # $1: a route line; true if it goes through one of $devs (or $devs is empty)
    [ -z "$devs" ] && return 0
    for d in $devs; do
        case " $1 " in *" dev $d "*) return 0 ;; esac
    done
    return 1
}

clean() {
    # drop the tokens "ip route show" prints that "ip route change" does not take
    echo "$1" | sed -E 's/ (linkdown|dead|offload|trap|rt_offload|rt_trap|rt_offload_failed)( |$)/ /g;
                         s/ expires [0-9]+sec//; s/ quickack [01]//; s/ +$//'
}

rc=0
for family in -4 -6; do
    ip "$family" route show table main | while IFS= read -r route; do
        [ -n "$route" ] || continue
        case "$route" in
            *nexthop*|"	"*|" "*) echo "warning: multipath route skipped: $route" >&2; continue ;;
            fe80::*) continue ;;  # link-local: no client or server traffic (and "change" duplicates it)
        esac
        want "$route" || continue
        case "$action" in
            on)
                case " $route " in *" quickack 1 "*) continue ;; esac
                # shellcheck disable=SC2046  # the route's words are the arguments
                ip "$family" route change $(clean "$route") quickack 1
                echo "changed: $(clean "$route") quickack 1"
                ;;
            off)
                case " $route " in *" quickack 1 "*) ;; *) continue ;; esac
                # shellcheck disable=SC2046
                ip "$family" route change $(clean "$route") quickack 0
                echo "changed: $(clean "$route") quickack 0"
                ;;
            status)
                case " $route " in *" quickack 1 "*) ;; *) echo "no quickack: $route"; exit 1 ;; esac
                ;;
        esac
    done || rc=$?
done
exit "$rc"
