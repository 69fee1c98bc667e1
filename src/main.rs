// teqlctl's own entry point instead of std's (`lang_start`), for what a one-shot run pays at
// every start (issue 16, point 15). lang_start installs a stack-overflow handler for the main
// thread, and to place its guard it asks glibc for the thread's stack bounds:
// pthread_getattr_np parses /proc/self/maps with sscanf, about a fifth of the instructions that
// `teqlctl --version` executes (callgrind). teqlctl never recurses deeply, and an overflow
// still ends the run with SIGSEGV, without std's message. The rest of what lang_start does for
// a program like this one is done here: SIGPIPE ignored (a hook whose caller closed its stderr
// gets EPIPE, not death in the middle of a change), and the exit through std::process::exit,
// which flushes stdout (a write error on it is out.rs's to handle). The arguments need no help: on glibc std reads them from .init_array.
// (Not under `cargo test`, whose harness brings its own main.)
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
use std::os::raw::{c_char, c_int};

#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    // SAFETY: changing a signal's disposition before any thread exists; SIG_IGN is no handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    std::process::exit(teqlctl::front::dispatch::main(std::env::args_os().collect()))
}
