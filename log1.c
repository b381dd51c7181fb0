error: plugins directory p1 does not exist (build the adapters with `cargo xtask build`)
