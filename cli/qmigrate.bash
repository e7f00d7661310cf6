# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion for qmigrate: subcommands, their options, their values and
# paths.  The options come from the command's own help (`qmigrate help CMD`),
# so that completion offers exactly what --help documents: an option line
# is "  --name ARG  text", "  -x, --name ARG  text" or, aligned with the
# latter, "      --name ARG  text".

# The help of @1 (a subcommand), or the top-level help.
_qmigrate_help() {
	local prog=$1 cmd=$2
	if [ -n "$cmd" ]; then
		"$prog" help "$cmd" 2>/dev/null
	else
		"$prog" --help 2>/dev/null
	fi
}

# The subcommands: the "Commands:" section of the top-level help.
_qmigrate_commands() {
	_qmigrate_help "$1" "" | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'
}

# The options a help text documents.
_qmigrate_options() {
	sed -n 's/^  \(-[a-zA-Z], \|    \)\{0,1\}\(--[a-z0-9-]*\).*/\2/p'
}

# The argument option @1 takes, from the help on stdin: its word after the
# name when that is a metavariable (PATH, N, SRC=DST) or a list of choices
# (unix|tcp); "" when it takes none.
_qmigrate_option_arg() {
	awk -v o="$1" '
	/^  -|^      --/ {
		line = substr($0, 3); short = ""
		if (line ~ /^-[a-zA-Z], /) { short = substr(line, 1, 2); line = substr(line, 5) }
		sub(/^    /, "", line)
		n = split(line, w, " ")
		if (o == w[1] || o == short) {
			if (n >= 2 && (w[2] ~ /^[A-Z]/ || w[2] ~ /[|]/))
				print w[2]
			exit
		}
	}'
}

_qmigrate_files() {
	local IFS=$'\n'
	compopt -o filenames 2>/dev/null
	# shellcheck disable=SC2207 # one name per line
	COMPREPLY=($(compgen -f -- "$1"))
}

_qmigrate() {
	local prog=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]}
	local prev= cmd= help arg i npos=0
	[ "$COMP_CWORD" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD - 1]}
	COMPREPLY=()

	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-*) ;;
		*)
			cmd=${COMP_WORDS[i]}
			break
			;;
		esac
	done
	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			# shellcheck disable=SC2207 # words
			COMPREPLY=($(compgen -W "--help --version" -- "$cur"))
		else
			# shellcheck disable=SC2207 # words
			COMPREPLY=($(compgen -W "$(_qmigrate_commands "$prog")" -- "$cur"))
		fi
		return 0
	fi
	if [ "$cmd" = help ]; then
		# shellcheck disable=SC2207 # words
		[ "$COMP_CWORD" -eq $((i + 1)) ] &&
			COMPREPLY=($(compgen -W "$(_qmigrate_commands "$prog")" -- "$cur"))
		return 0
	fi
	help=$(_qmigrate_help "$prog" "$cmd")

	# The value of the option before: a path, one of its choices, or nothing.
	if [[ $prev == -* ]]; then
		arg=$(_qmigrate_option_arg "$prev" <<<"$help")
		case $arg in
		"") ;;
		PATH | FILE | DIR | SOCKET | SRC=DST)
			_qmigrate_files "$cur"
			return 0
			;;
		*'|'*)
			# shellcheck disable=SC2207 # words
			COMPREPLY=($(compgen -W "${arg//|/ }" -- "$cur"))
			return 0
			;;
		*) return 0 ;;
		esac
	fi
	if [[ $cur == -* ]]; then
		# shellcheck disable=SC2207 # words
		COMPREPLY=($(compgen -W "$(_qmigrate_options <<<"$help")" -- "$cur"))
		return 0
	fi
	# Positional arguments: a job's verb comes after its socket; else paths.
	for ((i = i + 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-*) ;;
		*)
			arg=$(_qmigrate_option_arg "${COMP_WORDS[i - 1]}" <<<"$help")
			[[ ${COMP_WORDS[i - 1]} == -* && -n $arg ]] || npos=$((npos + 1))
			;;
		esac
	done
	if [ "$cmd" = job ] && [ "$npos" -eq 1 ]; then
		# shellcheck disable=SC2207 # words
		COMPREPLY=($(compgen -W "$(sed -n '/^Verbs:/,/^[^ ]/s/^  \([a-z][a-z-]*\).*/\1/p' <<<"$help")" -- "$cur"))
		return 0
	fi
	_qmigrate_files "$cur"
	return 0
}
complete -F _qmigrate qmigrate
