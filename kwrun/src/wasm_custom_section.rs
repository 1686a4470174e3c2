//! Reads and replaces one named custom section of a core wasm module, where
//! Kubewarden keeps a policy's metadata (`io.kubewarden.metadata`).
//!
//! Only the section framing is touched (id byte, LEB128 size, name), so the
//! rest of the module is copied byte for byte.

use anyhow::{bail, ensure, Context, Result};

const MAGIC_AND_VERSION_LEN: usize = 8;
const CUSTOM_SECTION_ID: u8 = 0;

/// One section: its id, and where its whole encoding and its contents lie.
struct Section {
    id: u8,
    whole: std::ops::Range<usize>,
    contents: std::ops::Range<usize>,
}

fn sections(wasm: &[u8]) -> Result<Vec<Section>> {
    ensure!(
        wasm.len() >= MAGIC_AND_VERSION_LEN && wasm.starts_with(b"\0asm"),
        "not a wasm module"
    );
    ensure!(
        wasm[4..8] == [1, 0, 0, 0],
        "not a core wasm module (version {:?})",
        &wasm[4..8]
    );
    let mut sections = Vec::new();
    let mut at = MAGIC_AND_VERSION_LEN;
    while at < wasm.len() {
        let start = at;
        let id = wasm[at];
        let (size, size_len) =
            read_leb128_u32(&wasm[at + 1..]).with_context(|| format!("section at byte {start}"))?;
        let contents_start = at + 1 + size_len;
        let end = contents_start
            .checked_add(size as usize)
            .filter(|end| *end <= wasm.len())
            .with_context(|| format!("section at byte {start} runs past the end of the module"))?;
        sections.push(Section {
            id,
            whole: start..end,
            contents: contents_start..end,
        });
        at = end;
    }
    Ok(sections)
}

fn custom_section_name(contents: &[u8]) -> Result<(&[u8], usize)> {
    let (len, len_len) = read_leb128_u32(contents).context("custom section name length")?;
    let name_end = len_len + len as usize;
    ensure!(
        name_end <= contents.len(),
        "custom section name runs past its section"
    );
    Ok((&contents[len_len..name_end], name_end))
}

/// The data of custom section `name`, if the module has one (the last wins).
/// Only tests read sections back today.
#[cfg(test)]
pub fn read_custom_section(wasm: &[u8], name: &str) -> Result<Option<Vec<u8>>> {
    let mut found = None;
    for section in sections(wasm)?.iter().filter(|s| s.id == CUSTOM_SECTION_ID) {
        let contents = &wasm[section.contents.clone()];
        let (section_name, data_start) = custom_section_name(contents)?;
        if section_name == name.as_bytes() {
            found = Some(contents[data_start..].to_vec());
        }
    }
    Ok(found)
}

/// The module with every custom section `name` removed and one holding
/// `data` appended.
pub fn with_custom_section(wasm: &[u8], name: &str, data: &[u8]) -> Result<Vec<u8>> {
    let mut out = wasm[..MAGIC_AND_VERSION_LEN.min(wasm.len())].to_vec();
    for section in sections(wasm)? {
        if section.id == CUSTOM_SECTION_ID {
            let (section_name, _) = custom_section_name(&wasm[section.contents.clone()])?;
            if section_name == name.as_bytes() {
                continue;
            }
        }
        out.extend_from_slice(&wasm[section.whole]);
    }
    let mut contents = Vec::with_capacity(name.len() + data.len() + 5);
    write_leb128_u32(
        &mut contents,
        u32::try_from(name.len()).context("section name too long")?,
    );
    contents.extend_from_slice(name.as_bytes());
    contents.extend_from_slice(data);
    out.push(CUSTOM_SECTION_ID);
    write_leb128_u32(
        &mut out,
        u32::try_from(contents.len()).context("section too large")?,
    );
    out.extend_from_slice(&contents);
    Ok(out)
}

fn write_leb128_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Returns the value and how many bytes encoded it.
fn read_leb128_u32(bytes: &[u8]) -> Result<(u32, usize)> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().take(5).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return u32::try_from(value)
                .map(|v| (v, i + 1))
                .context("LEB128 value exceeds u32");
        }
    }
    bail!("truncated or overlong LEB128 number")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(module (memory 1) (export "memory" (memory 0)))` plus a custom
    /// section "other" = b"keep".
    fn module() -> Vec<u8> {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.extend_from_slice(&[5, 3, 1, 0, 1]); // memory section
        wasm.extend_from_slice(&[7, 10, 1, 6]); // export section
        wasm.extend_from_slice(b"memory");
        wasm.extend_from_slice(&[2, 0]);
        wasm.extend_from_slice(&[0, 10, 5]);
        wasm.extend_from_slice(b"otherkeep");
        wasm
    }

    fn custom_sections_by_wasmparser(wasm: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut found = Vec::new();
        let mut validator = wasmparser::Validator::new();
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            let payload = payload.expect("module parses");
            if let wasmparser::Payload::CustomSection(reader) = &payload {
                found.push((reader.name().to_string(), reader.data().to_vec()));
            }
            validator.payload(&payload).expect("module validates");
        }
        found
    }

    #[test]
    fn leb128_round_trips() {
        for value in [0, 1, 127, 128, 300, 16_384, u32::MAX] {
            let mut bytes = Vec::new();
            write_leb128_u32(&mut bytes, value);
            assert_eq!(read_leb128_u32(&bytes).unwrap(), (value, bytes.len()));
        }
        assert!(read_leb128_u32(&[0x80, 0x80]).is_err());
    }

    #[test]
    fn section_is_added_then_replaced_and_read_back() {
        let big = vec![b'x'; 70_000]; // multi-byte section size
        let once = with_custom_section(&module(), "io.kubewarden.metadata", &big).unwrap();
        assert_eq!(
            read_custom_section(&once, "io.kubewarden.metadata").unwrap(),
            Some(big)
        );

        let twice = with_custom_section(&once, "io.kubewarden.metadata", b"{\"a\":1}").unwrap();
        assert_eq!(
            custom_sections_by_wasmparser(&twice),
            vec![
                ("other".to_string(), b"keep".to_vec()),
                ("io.kubewarden.metadata".to_string(), b"{\"a\":1}".to_vec()),
            ]
        );
    }

    #[test]
    fn non_modules_are_refused() {
        assert!(with_custom_section(b"hello", "n", b"").is_err());
        let mut truncated = module();
        truncated.truncate(truncated.len() - 2);
        assert!(read_custom_section(&truncated, "other").is_err());
    }
}
