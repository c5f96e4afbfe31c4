#!/bin/bash
# A stand-in for getent, id, usermod, adduser, addgroup, deluser, delgroup,
# useradd, groupadd, userdel, groupdel and systemctl, for the maintainer-script
# test in test-package.sh, which links each of those names to this file. It
# acts as the command it is called as, on state kept in files under
# $STUB_STATE (passwd/NAME, group/NAME listing its members, active/UNIT), logs
# each call to $STUB_STATE/calls, and enables units by making the
# multi-user.target.wants link under $DPKG_ROOT. It never touches the host.
set -euo pipefail
PATH=/usr/bin:/bin
name="${0##*/}"
state="$STUB_STATE"
printf '%s\n' "$name${*:+ $*}" >>"$state/calls"
last="${*: -1}"
has() { [ -e "$state/$1/$2" ]; }

case "$name" in
    getent)
        case "$1" in
            passwd) has passwd "$2" && { echo "$2:x:990:990::/nonexistent:/usr/sbin/nologin"; exit 0; } ;;
            group) has group "$2" && { echo "$2:x:990:$(paste -sd, "$state/group/$2")"; exit 0; } ;;
        esac
        exit 2
        ;;
    addgroup | groupadd)
        if has group "$last"; then
            # addgroup --system accepts an existing group; groupadd does not.
            [ "$name" = addgroup ] && exit 0
            echo "groupadd: group '$last' already exists" >&2
            exit 9
        fi
        : >"$state/group/$last"
        ;;
    adduser | useradd)
        group=
        while [ $# -gt 1 ]; do
            case "$1" in --ingroup | --gid) group="$2" ;; esac
            shift
        done
        if has passwd "$last"; then
            [ "$name" = adduser ] && exit 0
            echo "useradd: user '$last' already exists" >&2
            exit 9
        fi
        if [ -z "$group" ] || ! has group "$group"; then
            echo "$name: group '$group' does not exist" >&2
            exit 6
        fi
        echo "$group" >"$state/passwd/$last"
        ;;
    id)
        [ "$1" = -nG ] || exit 2
        has passwd "$2" || { echo "id: '$2': no such user" >&2; exit 1; }
        groups="$(cat "$state/passwd/$2")"
        for g in "$state"/group/*; do
            [ -e "$g" ] && grep -qx "$2" "$g" && groups="$groups ${g##*/}"
        done
        echo "$groups"
        ;;
    usermod)
        [ "$1 $2" = "-a -G" ] || { echo "usermod: unexpected arguments" >&2; exit 2; }
        has passwd "$4" || { echo "usermod: user '$4' does not exist" >&2; exit 6; }
        has group "$3" || { echo "usermod: group '$3' does not exist" >&2; exit 6; }
        grep -qx "$4" "$state/group/$3" || echo "$4" >>"$state/group/$3"
        ;;
    deluser | userdel)
        has passwd "$last" || { echo "$name: user '$last' does not exist" >&2; exit 2; }
        rm "$state/passwd/$last"
        for g in "$state"/group/*; do
            [ -e "$g" ] && sed -i "/^$last\$/d" "$g"
        done
        ;;
    delgroup | groupdel)
        has group "$last" || { echo "$name: group '$last' does not exist" >&2; exit 6; }
        rm "$state/group/$last"
        ;;
    systemctl)
        now=0 quiet=0 verb='' unit=''
        for a in "$@"; do
            case "$a" in
                --now) now=1 ;;
                --quiet) quiet=1 ;;
                --system) ;;
                -*) echo "systemctl: unexpected option $a" >&2; exit 2 ;;
                *) if [ -z "$verb" ]; then verb="$a"; else unit="$a"; fi ;;
            esac
        done
        wants="${DPKG_ROOT:?}/etc/systemd/system/multi-user.target.wants/$unit"
        installed() {
            [ -f "$DPKG_ROOT/lib/systemd/system/$unit" ] ||
                { echo "Failed: unit $unit not found." >&2; exit 5; }
        }
        case "$verb" in
            daemon-reload | reset-failed) ;;
            enable)
                installed
                mkdir -p "${wants%/*}"
                ln -sfn "/lib/systemd/system/$unit" "$wants"
                [ "$now" = 0 ] || : >"$state/active/$unit"
                ;;
            disable) rm -f "$wants" ;;
            is-enabled)
                if [ -L "$wants" ]; then
                    [ "$quiet" = 1 ] || echo enabled
                    exit 0
                fi
                [ "$quiet" = 1 ] || echo disabled
                exit 1
                ;;
            start | restart) installed; : >"$state/active/$unit" ;;
            stop) rm -f "$state/active/$unit" ;;
            *) echo "systemctl: unexpected verb '$verb'" >&2; exit 2 ;;
        esac
        ;;
    *)
        echo "stub: unknown command $name" >&2
        exit 127
        ;;
esac
