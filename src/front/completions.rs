//! `teqlctl completions SHELL`: clap_complete's script, with interface names where a command
//! takes lines (IFACE) and bundle names where it takes a master (MASTER, `--master`; for
//! peer-config's `--master`, the far end's name, this box's bundles are the likely names).
//! clap_complete alone leaves those to the shell's default, which offers file names.
//! Interfaces are those of /sys/class/net; bundles are the names `teqlctl status` prints
//! (configured ones and existing teqlN that are up or have lines).

use clap_complete::Shell;

/// Master names, one a line, from `teqlctl status` (its lines for masters start in column 0
/// with `NAME: `), for bash and zsh.
const STATUS_MASTERS: &str = r"sed -n 's/^\([^ :][^ :]*\): .*/\1/p'";

fn bash_extra() -> String {
    r#"
# teqlctl: interface names for IFACE (attach, detach), bundle names for MASTER (up, down,
# status, peer-config) and --master; clap's completion for everything else.
_teqlctl_ifaces() {
    local n
    for n in /sys/class/net/*; do
        n=${n##*/}
        [[ $n == lo || $n == '*' ]] || printf '%s\n' "$n"
    done
}

_teqlctl_masters() {
    local i root=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} == --root ]]; then
            [[ ${COMP_WORDS[i+1]} == = ]] && ((i++))
            root=(--root "${COMP_WORDS[i+1]}")
        fi
    done
    "${COMP_WORDS[0]}" "${root[@]}" status 2>/dev/null | STATUS_MASTERS
}

_teqlctl_names() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} sub= i names
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            --root | --master) ((i++)); [[ ${COMP_WORDS[i]} == = ]] && ((i++)) ;;
            -*) ;;
            *) sub=${COMP_WORDS[i]}; break ;;
        esac
    done
    [[ $prev == = ]] && prev=${COMP_WORDS[COMP_CWORD-2]}
    if [[ $prev == --master && ( $sub == attach || $sub == peer-config ) ]]; then
        names=$(_teqlctl_masters)
    elif [[ $cur != -* && $prev != --root && $prev != --write && $prev != --format ]]; then
        case $sub in
            attach | detach) names=$(_teqlctl_ifaces) ;;
            up | down | status | peer-config) names=$(_teqlctl_masters) ;;
            *) _teqlctl "$@"; return ;;
        esac
    else
        _teqlctl "$@"
        return
    fi
    # Names only: no file names when none matches.
    compopt +o default +o bashdefault 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -W "$names" -- "$cur")
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _teqlctl_names -o nosort -o bashdefault -o default teqlctl
else
    complete -F _teqlctl_names -o bashdefault -o default teqlctl
fi
"#
    .replace("STATUS_MASTERS", STATUS_MASTERS)
}

const FISH_EXTRA: &str = r#"
# teqlctl: interface names for IFACE (attach, detach), bundle names for MASTER (up, down,
# status, peer-config) and --master.
function __fish_teqlctl_masters
    teqlctl status 2>/dev/null | string replace -rf '^([^ :]+): .*' '$1'
end
complete -c teqlctl -n "__fish_teqlctl_using_subcommand attach detach" -f -a "(__fish_print_interfaces | string match -v lo)"
complete -c teqlctl -n "__fish_teqlctl_using_subcommand up down status peer-config" -f -a "(__fish_teqlctl_masters)"
complete -c teqlctl -n "__fish_teqlctl_using_subcommand attach peer-config" -l master -r -f -a "(__fish_teqlctl_masters)"
"#;

/// zsh: clap_complete writes these arguments' specs with an empty action (nothing offered);
/// give them `_net_interfaces` (zsh's own) and `_teqlctl_masters`.
fn zsh(script: &str) -> String {
    let mut out = String::new();
    for line in script.lines() {
        let action = if line.starts_with("'*::ifaces -- ") {
            Some("_net_interfaces")
        } else if line.starts_with("'::master -- ")
            || line.starts_with("':master -- ")
            || line.starts_with("'--master=[")
        {
            Some("_teqlctl_masters")
        } else {
            None
        };
        match (action, line.strip_suffix(":' \\")) {
            (Some(a), Some(spec)) => out.push_str(&format!("{spec}:{a}' \\\n")),
            _ => {
                if line.starts_with("if [ \"$funcstack[1]\" = \"_teqlctl\" ]") {
                    out.push_str(&format!(
                        "(( $+functions[_teqlctl_masters] )) ||\n_teqlctl_masters() {{\n    local -a masters\n    \
                         masters=(${{(f)\"$(teqlctl status 2>/dev/null | {STATUS_MASTERS})\"}})\n    \
                         compadd -a masters\n}}\n\n"
                    ));
                }
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// The completion script for `shell` of the command line `cmd` (cli::Cli's, which is above
/// this module: the CLI runs `teqlctl completions`).
pub fn script(shell: Shell, mut cmd: clap::Command) -> String {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "teqlctl", &mut buf);
    let script = String::from_utf8_lossy(&buf).into_owned();
    match shell {
        Shell::Bash => script + &bash_extra(),
        Shell::Zsh => zsh(&script),
        Shell::Fish => script + FISH_EXTRA,
        _ => script,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn script(shell: Shell) -> String {
        super::script(shell, crate::front::cli::Cli::command())
    }

    /// Every IFACE and MASTER spec got its action (a clap_complete that writes them
    /// differently fails here instead of falling back to nothing).
    #[test]
    fn zsh_names_every_iface_and_master_argument() {
        let s = script(Shell::Zsh);
        assert_eq!(s.matches(":_net_interfaces' \\").count(), 2, "attach, detach");
        assert_eq!(
            s.matches(":_teqlctl_masters' \\").count(),
            6,
            "up, down, status, attach --master, peer-config MASTER and --master"
        );
        assert!(s.contains("\n_teqlctl_masters() {") && s.starts_with("#compdef teqlctl"));
    }

    #[test]
    fn fish_and_bash_add_their_name_completions() {
        assert!(script(Shell::Fish).contains("(__fish_print_interfaces | string match -v lo)"));
        let bash = script(Shell::Bash);
        assert!(bash.contains("_teqlctl() {") && bash.trim_end().ends_with("fi"));
        assert!(bash.contains("complete -F _teqlctl_names"));
    }
}
