fn main() {
    std::process::exit(teqlctl::dispatch::main(std::env::args_os().collect()));
}
