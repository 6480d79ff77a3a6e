//! Computes the SHA1 of every queue script (`src/queue/lua/prelude.lua` followed by the
//! script's own file) at build time. Redis names a cached script by that SHA1, and every
//! component instance is fresh, so hashing the text at run time would cost each request.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new("src/queue/lua");
    println!("cargo:rerun-if-changed={}", dir.display());
    let prelude = std::fs::read_to_string(dir.join("prelude.lua")).expect("read prelude.lua");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read src/queue/lua")
        .map(|entry| entry.expect("list src/queue/lua").path())
        .filter(|path| path.extension().is_some_and(|e| e == "lua"))
        .filter_map(|path| Some(path.file_stem()?.to_str()?.to_owned()))
        .filter(|name| name != "prelude")
        .collect();
    names.sort();

    let mut out = String::from(
        "/// The SHA1 (lowercase hex) of the script `name` as [`super::Script`] holds it.\n\
         pub(super) fn sha_of(name: &str) -> Option<&'static str> {\n    match name {\n",
    );
    for name in &names {
        let path = dir.join(format!("{name}.lua"));
        println!("cargo:rerun-if-changed={}", path.display());
        let body = std::fs::read_to_string(&path).expect("read a script");
        let sha = sha1_smol::Sha1::from(format!("{prelude}{body}")).digest();
        writeln!(out, "        {name:?} => Some(\"{sha}\"),").unwrap();
    }
    out.push_str("        _ => None,\n    }\n}\n");
    let target = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("script_shas.rs");
    std::fs::write(target, out).expect("write script_shas.rs");
}
