//! The manual tool: `teqlctl COMMAND`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{BundleName, IfName, EXPECT_MASTER};
use crate::error::{exit, Error, Result};
use crate::front::hooks::{self, Hook};
use crate::front::install;
use crate::kernel::netlink::Netlink;
use crate::kernel::state::State;
use crate::log;
use crate::names;
use crate::run::event::Event;
use crate::run::ops::{self, Ctx};
use crate::run::status;

#[derive(Debug, Parser)]
#[command(
    name = "teqlctl",
    version,
    about = "Bond lines with Linux TEQL from the distribution's network configuration"
)]
pub struct Cli {
    /// Read configuration below DIR instead of / (for chroots, images and tests)
    #[arg(long, global = true, value_name = "DIR", env = "TEQLCTL_ROOT", default_value = "/")]
    pub root: PathBuf,

    /// Print the changes as the equivalent modprobe/sysctl/tc/ip commands; change nothing
    #[arg(short = 'n', long, global = true)]
    pub dry_run: bool,

    /// Say what is changed (it always goes to syslog)
    #[arg(short, long, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make interfaces lines of a master; bring the master up with its address and route
    Attach {
        /// The master (default: the line's TEQL_MASTER, else teql0)
        #[arg(long, value_name = "teqlN", value_hint = clap::ValueHint::Other)]
        master: Option<String>,
        /// Replace a root qdisc configured by the admin, move a line from another master,
        /// or attach a tunnel device
        #[arg(long)]
        force: bool,
        /// The interfaces to make lines (eth2, ...)
        #[arg(required = true, value_name = "IFACE", value_hint = clap::ValueHint::Other)]
        ifaces: Vec<String>,
    },
    /// Take interfaces out of their bundle (a master left without lines is set down)
    Detach {
        /// The lines to take out
        #[arg(required = true, value_name = "IFACE", value_hint = clap::ValueHint::Other)]
        ifaces: Vec<String>,
    },
    /// Bring a bundle up from the configuration: module, every ONBOOT line that is up,
    /// master address and default route (all configured masters if none is named)
    Up {
        /// The bundle (teqlN, or a multipath bundle's name); default: every configured one
        #[arg(value_name = "MASTER", value_hint = clap::ValueHint::Other)]
        master: Option<String>,
    },
    /// Take a bundle down: master down, its address removed, every line detached
    Down {
        /// The bundle; default: every configured one
        #[arg(value_name = "MASTER", value_hint = clap::ValueHint::Other)]
        master: Option<String>,
    },
    /// Show masters, their lines and counters
    Status {
        /// Machine-readable output (schema in teqlctl(8))
        #[arg(long)]
        json: bool,
        /// Only this bundle
        #[arg(value_name = "MASTER", value_hint = clap::ValueHint::Other)]
        master: Option<String>,
    },
    /// Probe every line once; take dead lines out and put recovered ones back (run it from
    /// the shipped systemd timer, or cron)
    Check {
        /// Also write each bundle's and line's metrics to this file, for node_exporter's
        /// textfile collector (replaced atomically every round; teqlctl(8), METRICS)
        #[arg(long, value_name = "PATH", value_hint = clap::ValueHint::FilePath)]
        metrics_file: Option<std::path::PathBuf>,
    },
    /// Check the configuration without touching the kernel: every file of every stack, and
    /// the nftables rulesets it asks for (`nft -c`); exit 0 when clean, 3 on a problem
    Validate {
        /// Machine-readable output: ok, problems (kind, file, line, key, bundle, message), notes
        #[arg(long)]
        json: bool,
        /// Also check that this box has what the configuration needs (sch_teql, tunnel
        /// modules, resilient nexthop groups, nft); a lack exits 4
        #[arg(long)]
        kernel: bool,
        /// Print only the one-line summary
        #[arg(short, long, conflicts_with = "json")]
        quiet: bool,
    },
    /// Print or write the aggregator's files for a TEQL bundle of GRE/IPIP tunnels: a tunnel
    /// back to each line, and its teqlN with routes and NAT
    PeerConfig {
        /// This box's TEQL bundle (teqlN) whose lines are the tunnels to the aggregator
        #[arg(value_name = "MASTER", value_hint = clap::ValueHint::Other)]
        master: String,
        /// The aggregator's file format (default: the format of MASTER's own file here)
        #[arg(long, value_enum, value_name = "FORMAT")]
        format: Option<crate::front::peer::Format>,
        /// The aggregator's master (teql0..teql63; default: MASTER's name)
        #[arg(long = "master", id = "far_master", value_name = "teqlN", value_hint = clap::ValueHint::Other)]
        far_master: Option<String>,
        /// Write the files into DIR (it must exist) instead of printing them; an existing file
        /// is never overwritten (then nothing is written)
        #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
        write: Option<PathBuf>,
    },
    /// Install, remove or show the hook links of network-scripts, ifupdown and NetworkManager's
    /// dispatcher (dhclient's snippet comes with the packages: distro/dhclient/)
    Hooks {
        #[command(subcommand)]
        action: HooksAction,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        /// The shell to print the script for
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Run a hook explicitly, with the arguments (and environment) its caller would pass:
    /// network-scripts, ifupdown, NetworkManager's dispatcher or ISC dhclient's script
    Hook {
        /// The hook's name: network-scripts' (ifup-local, ...), `ifupdown` (the Debian hook, which
        /// reads ifupdown's environment: IFACE, PHASE, MODE, ADDRFAM, VERBOSITY, IF_*),
        /// `nm-dispatcher` (NetworkManager's dispatcher: INTERFACE ACTION, CONNECTION_FILENAME, ...)
        /// or `dhclient` (dhclient-script's reason=, interface=, new_routers=, ...)
        #[arg(value_parser = hook_names())]
        name: String,
        /// Its arguments, as its caller passes them (ifup-local: the device)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct Systems {
    /// Only RedHat network-scripts' hooks (default: every system whose directory exists)
    #[arg(long)]
    pub network_scripts: bool,
    /// Only Debian ifupdown's hook directories
    #[arg(long)]
    pub ifupdown: bool,
    /// Only NetworkManager's dispatcher directories
    #[arg(long)]
    pub networkmanager: bool,
}

#[derive(Debug, Subcommand)]
pub enum HooksAction {
    /// Link the binary under every hook name; an existing hook of the admin's is kept and
    /// chained (run after teqlctl, with its arguments)
    Install {
        /// The binary the links point to, as seen on the target system (default: this
        /// binary's own path; with --root, /usr/sbin/teqlctl)
        #[arg(long, value_name = "PATH", value_hint = clap::ValueHint::FilePath)]
        binary: Option<PathBuf>,
        #[command(flatten)]
        systems: Systems,
    },
    /// Remove the links and put chained hooks back exactly as they were
    Uninstall {
        #[command(flatten)]
        systems: Systems,
    },
    /// Say what is installed and what is chained
    Status {
        #[command(flatten)]
        systems: Systems,
    },
}

fn systems(root: &std::path::Path, s: &Systems) -> Result<Vec<install::System>> {
    let mut out = Vec::new();
    if s.network_scripts {
        out.push(install::System::NetworkScripts);
    }
    if s.ifupdown {
        out.push(install::System::Ifupdown);
    }
    if s.networkmanager {
        out.push(install::System::NetworkManager);
    }
    if out.is_empty() {
        out = install::detect(root);
    }
    if out.is_empty() {
        return Err(Error::Usage(format!(
            "none of {0}etc/sysconfig/network-scripts, {0}etc/network and {0}etc/NetworkManager exists; \
             pass --network-scripts, --ifupdown or --networkmanager",
            root.display().to_string().trim_end_matches('/').to_string() + "/"
        )));
    }
    Ok(out)
}

/// The interfaces named on the command line, each checked once here.
fn iface_args(args: &[String]) -> Result<Vec<IfName>> {
    args.iter()
        .map(|a| {
            IfName::new(a).ok_or_else(|| {
                Error::Usage(format!("\"{}\": not a name teqlctl takes: {}", names::shown(a), names::refusal(a)))
            })
        })
        .collect()
}

/// `up`/`down`'s bundle: a teqlN or a multipath bundle's name (whether it is configured is
/// ops' to say).
fn bundle_arg(name: &str) -> Result<BundleName> {
    BundleName::new(name).ok_or_else(|| {
        Error::Usage(format!("{}: not {EXPECT_MASTER}, nor a configured multipath bundle", names::shown(name)))
    })
}

/// `attach --master`: only a teqlN (a multipath line's bundle is its configuration's).
fn attach_master_arg(name: &str) -> Result<BundleName> {
    BundleName::teql(name).ok_or_else(|| {
        Error::Usage(format!(
            "--master {}: not {EXPECT_MASTER} (the lines of a multipath bundle come from its configuration)",
            names::shown(name)
        ))
    })
}

fn hook_names() -> Vec<&'static str> {
    hooks::HOOKS.iter().map(|(n, _)| *n).chain([IFUPDOWN_HOOK]).collect()
}

/// `teqlctl hook ifupdown`: the Debian hook as run-parts starts it (it is linked as
/// `teqlctl` into /etc/network/if-*.d, so it has no hook name of its own).
const IFUPDOWN_HOOK: &str = "ifupdown";

/// Entry point of `teqlctl ...`; returns the exit status.
pub fn main(args: Vec<std::ffi::OsString>) -> i32 {
    use clap::{CommandFactory, FromArgMatches};
    let parsed = Cli::command().try_get_matches_from(args).and_then(|m| Ok((Cli::from_arg_matches(&m)?, m)));
    let (cli, matches) = match parsed {
        Ok(c) => c,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return if e.use_stderr() { exit::USAGE } else { exit::OK };
        }
    };
    log::set_verbose(cli.verbose);
    log::set_command(&cli.command.name());
    let from_env = matches.value_source("root") == Some(clap::parser::ValueSource::EnvVariable);
    let code = match check_root(&cli, from_env).and_then(|()| run(cli)) {
        Ok(code) => code,
        Err(e) => {
            log::error(&e.to_string());
            e.exit_code()
        }
    };
    // A reader that went away ends the run as it ends coreutils' (out.rs).
    crate::out::finish(code)
}

/// A root that is not a directory would read as a box with nothing configured ("no teql master
/// is configured", exit 0): a typo in --root must not look like an answer about a tree.
fn check_root(cli: &Cli, from_env: bool) -> Result<()> {
    if matches!(cli.command, Command::Completions { .. }) {
        return Ok(());
    }
    let why = match std::fs::metadata(&cli.root) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => "not a directory".to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "no such directory".to_string(),
        Err(e) => e.to_string(),
    };
    let how = if from_env { "TEQLCTL_ROOT=" } else { "--root " };
    Err(Error::Usage(format!(
        "{how}{}: {why}; give the directory that holds the tree's etc/ (or leave it out for /)",
        names::shown(&cli.root.to_string_lossy())
    )))
}

impl Command {
    /// The name the journal files its messages under (TEQLCTL_COMMAND): the subcommand, or for
    /// `hook NAME` the hook's name, as when it runs linked under that name.
    fn name(&self) -> String {
        match self {
            Command::Attach { .. } => "attach".into(),
            Command::Detach { .. } => "detach".into(),
            Command::Up { .. } => "up".into(),
            Command::Down { .. } => "down".into(),
            Command::Status { .. } => "status".into(),
            Command::Check { .. } => "check".into(),
            Command::PeerConfig { .. } => "peer-config".into(),
            Command::Hooks { .. } => "hooks".into(),
            Command::Completions { .. } => "completions".into(),
            Command::Validate { .. } => "validate".into(),
            Command::Hook { name, .. } => name.clone(),
        }
    }
}

fn run(cli: Cli) -> Result<i32> {
    let mut ctx = Ctx { root: cli.root, dry_run: cli.dry_run, ..Ctx::default() };
    match cli.command {
        Command::Hook { name, args } if name == IFUPDOWN_HOOK => {
            if let Some(a) = args.first() {
                return Err(Error::Usage(format!(
                    "hook ifupdown takes no arguments (got {a:?}): it reads ifupdown's environment (IFACE, PHASE, ADDRFAM, VERBOSITY, IF_*)"
                )));
            }
            let env = crate::front::ifupdown::HookEnv::from_env(std::env::vars()).ok_or_else(|| {
                Error::Usage(
                    "hook ifupdown: no ifupdown environment (IFACE and PHASE, e.g. IFACE=eth1 PHASE=post-up \
                     ADDRFAM=inet VERBOSITY=0 IF_TEQL_MASTER=teql0)"
                        .into(),
                )
            })?;
            Ok(crate::front::ifupdown::run(&env, &ctx))
        }
        Command::Hook { name, args } => {
            let hook = Hook::from_name(&name).ok_or_else(|| Error::Usage(format!("{name}: not a hook name")))?;
            Ok(hooks::run(hook, &args, &ctx))
        }
        Command::Validate { json, kernel, quiet } => {
            // A mistyped --root would otherwise be "nothing configured", exit 0.
            if !ctx.root.is_dir() {
                return Err(Error::Usage(format!("--root {}: no such directory", ctx.root.display())));
            }
            let report = crate::front::validate::validate(&ctx.root, kernel);
            if json {
                println!("{}", report.to_json());
            } else if quiet {
                println!("{}", report.summary());
            } else {
                print!("{}", report.to_text());
            }
            Ok(report.exit_code())
        }
        Command::Completions { shell } => {
            crate::out::print(&crate::front::completions::script(shell, <Cli as clap::CommandFactory>::command()));
            Ok(exit::OK)
        }
        Command::Hooks { action } => {
            match action {
                HooksAction::Install { binary, systems: s } => {
                    let binary = binary.unwrap_or_else(|| install::default_binary(&ctx.root));
                    if !binary.is_absolute() {
                        return Err(Error::Usage(format!("--binary {}: give an absolute path", binary.display())));
                    }
                    if let Some(w) = install::check_binary(&ctx.root, &binary)? {
                        log::warn(&w);
                    }
                    let steps = install::plan_install(&ctx.root, &systems(&ctx.root, &s)?, &binary)?;
                    finish_steps(&ctx, &steps)?;
                    // What the hooks will meet at the next ifup, said now; never the install's
                    // failure (a box is often set up hooks first, files after). A dry run
                    // installs nothing and prints its commands only.
                    if !ctx.dry_run {
                        println!("{}", install::validate_summary(&ctx.root));
                    }
                }
                HooksAction::Uninstall { systems: s } => {
                    let steps = install::plan_uninstall(&ctx.root, &systems(&ctx.root, &s)?);
                    finish_steps(&ctx, &steps)?;
                }
                HooksAction::Status { systems: s } => {
                    crate::out::print(&install::status(&ctx.root, &systems(&ctx.root, &s)?))
                }
            }
            Ok(exit::OK)
        }
        Command::Status { json, master } => {
            let cfg = crate::configured::load(&ctx.root);
            // Every command that reads a broken file says so, to the system log too. The text
            // lists the problems itself, so on the terminal they are said once, not twice
            // (issue 28, point 9); with --json they go to stderr for whoever runs it.
            for p in &cfg.problems {
                if json {
                    log::warn(&p.to_string());
                } else {
                    log::warn_log_only(&p.to_string());
                }
            }
            let mut nl = Netlink::open().map_err(|e| Error::from_netlink("netlink socket", "", e))?;
            let mut state = State::read(&mut nl)?;
            // Multipath bundles' rules, tables and nexthops, only when there are any.
            let tables = crate::run::mode::routing_tables(&cfg);
            if !tables.is_empty() {
                state.read_multipath(&mut nl, &tables)?;
            }
            // A connection bundle's counters (nft, conntrack), only when one is shown.
            let conn = cfg
                .masters
                .keys()
                .filter(|name| master.as_deref().is_none_or(|want| want == name.as_str()))
                .find_map(|name| crate::run::mode::connection_marks(&cfg, name).map(|marks| (name, marks)));
            if let Some((name, marks)) = conn {
                state.read_connection(name, &marks);
            }
            let dir = crate::statefile::state_dir();
            let health = crate::run::health::load(&dir);
            let mut st = status::collect(&cfg, crate::run::mode::statuses(&cfg, &state, &health, master.as_deref()));
            // Rates since the last sample of the counters (check's round, or an earlier status),
            // and this one recorded for the next. A status that cannot write (not root, no
            // state directory yet) shows the same, without recording: rates are a convenience,
            // never a reason to fail.
            let shown: Vec<&str> = st.masters.iter().flat_map(|m| m.lines.iter().map(|l| l.name.as_str())).collect();
            let now = crate::run::rates::sample(&state, shown, crate::run::rates::now_ms());
            st.fill_rates(crate::run::rates::load(&dir, now.at_ms).as_ref(), &now);
            if !ctx.dry_run && dir.is_dir() {
                let _ = crate::run::rates::record(&dir, &now);
            }
            crate::front::stack::add_to_status(&mut st, &cfg, &crate::front::stack::Boxed::read(&ctx.root));
            // Said where it is heard, once (the text does not repeat them): a line that can never
            // be bonded at boot is a problem of the box even when status is read by a program.
            for w in &st.warnings {
                log::warn(w);
            }
            if let Some(m) = master.as_deref() {
                if st.masters.is_empty() {
                    return Err(Error::Usage(format!("{m}: not a configured or existing teql master")));
                }
            }
            crate::out::print(&if json { st.to_json() + "\n" } else { st.to_text() });
            Ok(exit::OK)
        }
        Command::PeerConfig { master, format, far_master, write } => {
            let cfg = crate::configured::load(&ctx.root);
            // A broken file may be a line of MASTER left out of the configuration: the
            // aggregator would silently lack its tunnel.
            ops::check_whole_config(&cfg)?;
            let far_master = far_master.as_deref().map(crate::front::peer::far_master).transpose()?;
            let opts = crate::front::peer::Options { format, far_master: far_master.as_ref(), root: &ctx.root };
            let files = crate::front::peer::generate(&cfg, &master, &opts)?;
            match write {
                None => crate::out::print(&crate::front::peer::render(&files)),
                Some(dir) if ctx.dry_run => {
                    for p in crate::front::peer::targets(&dir, &files)? {
                        crate::out::println(&format!("# would write {}", p.display()));
                    }
                }
                Some(dir) => {
                    for p in crate::front::peer::write(&dir, &files)? {
                        crate::out::println(&format!("wrote {}", p.display()));
                    }
                }
            }
            Ok(exit::OK)
        }
        Command::Check { metrics_file } => {
            // Timed from before the configuration is read: `-v` shows where a round's time goes.
            let started = std::time::Instant::now();
            let cfg = crate::configured::load(&ctx.root);
            let report = crate::front::check::check(&ctx, &cfg, started, metrics_file.as_deref())?;
            Ok(if report.failed > 0 { crate::error::exit::KERNEL } else { ops::exit_status() })
        }
        command => {
            let cfg = crate::configured::load(&ctx.root);
            // A broken file that concerns teql stops every manual change, whichever bundle it
            // belongs to (detach needs no configuration and is always allowed).
            if !matches!(command, Command::Detach { .. }) {
                ops::check_whole_config(&cfg)?;
            }
            match command {
                Command::Attach { master, force, ifaces } => {
                    ctx.force = force;
                    let over = master.as_deref().map(attach_master_arg).transpose()?;
                    crate::run::event::run(&ctx, &cfg, &[Event::LinesUp { lines: iface_args(&ifaces)?, over }])?;
                }
                Command::Detach { ifaces } => {
                    crate::run::event::run(
                        &ctx,
                        &cfg,
                        &[Event::LinesDown { lines: iface_args(&ifaces)?, missing_ok: false }],
                    )?;
                }
                Command::Up { master } => {
                    let bundle = master.as_deref().map(bundle_arg).transpose()?;
                    crate::run::event::run(&ctx, &cfg, &[Event::BundleUp { bundle, need_a_line: true }])?;
                }
                Command::Down { master } => {
                    let bundle = master.as_deref().map(bundle_arg).transpose()?;
                    crate::run::event::run(&ctx, &cfg, &[Event::BundleDown { bundle }])?;
                }
                Command::Status { .. }
                | Command::Check { .. }
                | Command::Hook { .. }
                | Command::Hooks { .. }
                | Command::PeerConfig { .. }
                | Command::Validate { .. }
                | Command::Completions { .. } => {
                    unreachable!("handled above")
                }
            }
            Ok(ops::exit_status())
        }
    }
}

/// Prints the steps (--dry-run) or carries them out.
fn finish_steps(ctx: &Ctx, steps: &[install::Step]) -> Result<()> {
    if ctx.dry_run {
        for s in steps {
            crate::out::println(&format!("{s}"));
        }
        if steps.is_empty() {
            crate::out::println("# nothing to change");
        }
        return Ok(());
    }
    install::apply(steps)
}
