//! Compiled policy modules kept between runs, as kwctl keeps its wasmtime cache: compiling a
//! policy with Cranelift takes most of an evaluation, loading it back takes milliseconds.
//! Entries are keyed by the module's SHA-256 and the engine's compatibility hash (wasmtime
//! version and every setting that affects code), so a stale or foreign entry is never used.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wasmtime::{Engine, Module};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleCache {
    dir: Option<PathBuf>,
}

impl ModuleCache {
    /// `$XDG_CACHE_HOME/kwrun/modules`, else `~/.cache/kwrun/modules`; none without a home.
    pub fn in_user_cache_dir() -> Self {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")));
        ModuleCache {
            dir: base.map(|base| base.join("kwrun").join("modules")),
        }
    }

    #[cfg(test)]
    pub fn at(dir: PathBuf) -> Self {
        ModuleCache { dir: Some(dir) }
    }

    pub fn disabled() -> Self {
        ModuleCache { dir: None }
    }

    /// The compiled module: from the cache when an entry for exactly this module and engine
    /// exists, else compiled and stored (a failure to store only costs the next run time).
    pub fn module(&self, engine: &Engine, wasm: &[u8]) -> Result<Module> {
        let Some(dir) = &self.dir else {
            return compile(engine, wasm);
        };
        let entry = dir.join(entry_name(engine, wasm));
        // Read into memory rather than mapped: a file changed under a mapping would crash
        // kwrun instead of merely missing the cache.
        if let Ok(bytes) = std::fs::read(&entry) {
            // SAFETY: entries are written only by `store` below, from `Module::serialize` of
            // this same wasmtime, under a name that includes the engine's compatibility hash;
            // wasmtime still checks the header and refuses a mismatched artefact.
            if let Ok(module) = unsafe { Module::deserialize(engine, &bytes) } {
                return Ok(module);
            }
        }
        let module = compile(engine, wasm)?;
        let _ = store(&module, dir, &entry);
        Ok(module)
    }
}

fn compile(engine: &Engine, wasm: &[u8]) -> Result<Module> {
    Module::new(engine, wasm)
        .map_err(anyhow::Error::from)
        .context("cannot compile the policy module")
}

fn entry_name(engine: &Engine, wasm: &[u8]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!(
        "{}-{:016x}.cwasm",
        hex::encode(openssl::sha::sha256(wasm)),
        hasher.finish()
    )
}

/// Written to a temporary name and renamed, so a concurrent reader never sees half a file.
fn store(module: &Module, dir: &Path, entry: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let bytes = module.serialize().map_err(anyhow::Error::from)?;
    let partial = entry.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, entry)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        Engine::new(wasmtime::Config::new().epoch_interruption(true)).unwrap()
    }

    #[test]
    fn a_compiled_module_is_stored_once_and_loaded_back() {
        let dir = std::env::temp_dir().join(format!("kwrun-cache-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cache = ModuleCache::at(dir.clone());
        let wasm =
            wat::parse_str(r#"(module (func (export "f") (result i32) i32.const 7))"#).unwrap();
        let engine = engine();
        cache.module(&engine, &wasm).unwrap();
        let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(entries.len(), 1, "one entry, no partial file left");
        let module = cache.module(&engine, &wasm).unwrap();
        assert!(module.get_export("f").is_some());
        // A corrupt entry is recompiled and replaced, never trusted.
        let entry = entries[0].as_ref().unwrap().path();
        std::fs::write(&entry, b"garbage").unwrap();
        assert!(cache
            .module(&engine, &wasm)
            .unwrap()
            .get_export("f")
            .is_some());
        assert_ne!(std::fs::read(&entry).unwrap(), b"garbage");
        // Another module gets its own entry.
        let other = wat::parse_str(r#"(module (func (export "g")))"#).unwrap();
        cache.module(&engine, &other).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_disabled_cache_writes_nothing() {
        let module = ModuleCache::disabled()
            .module(&engine(), &wat::parse_str("(module)").unwrap())
            .unwrap();
        assert_eq!(module.exports().count(), 0);
    }
}
