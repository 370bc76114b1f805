#!/bin/sh
# Turn delayed ACKs off (quickack 1) on the balancer's routes, so that the
# balancer acknowledges every segment at once. Endpoints that leave Nagle's
# algorithm on (stock DCMTK, Orthanc, most modalities) then never wait the
# ~40 ms delayed-ACK timer for the balancer: see docs/performance.md.
#
# Usage: route-quickack.sh on|off|status [DEV...]
#        route-quickack.sh hosts-on|hosts-off ADDRESS...
#   on        add "quickack 1" to every IPv4/IPv6 route of table main (only those
#             through DEV... when given); prints "changed: ROUTE" for each change
#   off       remove it again ("quickack 0")
#   status    list the routes without quickack; exit 1 if there is one
#   hosts-on  a host route (/32, /128) with "quickack 1" to each ADDRESS (the
#             real servers), through the gateway and device the kernel uses
#             for it now: only the balancer's connections to those servers
#             acknowledge at once
#   hosts-off remove those host routes again
# Idempotent: a route that already has the wanted value is left alone.
# Multipath routes are skipped with a warning (change them by hand); IPv6
# link-local routes (fe80::/64) are left alone.
set -eu

action=${1:-status}
shift || true
devs="$*"
case "$action" in
    on|off|status|hosts-on|hosts-off) ;;
    *) echo "usage: $0 on|off|status [DEV...] | hosts-on|hosts-off ADDRESS..." >&2; exit 2 ;;
esac

if [ "$action" = hosts-on ] || [ "$action" = hosts-off ]; then
    for addr in $devs; do
        case "$addr" in *:*) family=-6; plen=128 ;; *) family=-4; plen=32 ;; esac
        current=$(ip "$family" route show "$addr/$plen" proto static)
        if [ "$action" = hosts-off ]; then
            [ -n "$current" ] || continue
            ip "$family" route del "$addr/$plen" proto static
            echo "changed: removed $addr/$plen"
            continue
        fi
        # the path the kernel takes to the address now, without our own host route
        path=$(ip "$family" route get "$addr" | head -n 1)
        via=$(echo "$path" | sed -n 's/.* via \([^ ]*\).*/\1/p')
        dev=$(echo "$path" | sed -n 's/.* dev \([^ ]*\).*/\1/p')
        [ -n "$dev" ] || { echo "no route to $addr" >&2; exit 1; }
        want="$addr dev $dev proto static scope link quickack 1"
        [ -n "$via" ] && want="$addr via $via dev $dev proto static quickack 1"
        case " $current " in *" quickack 1 "*) continue ;; esac
        # shellcheck disable=SC2086  # the words of $want are the arguments
        ip "$family" route replace $(echo "$want" | sed "s#^$addr #$addr/$plen #")
        echo "changed: $want"
    done
    exit 0
fi

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
