//! Bytes in any encoding counties use → UTF-8, streaming, never guessing silently.
//!
//! The encoding is declared (pipeline file) or detected: a BOM decides (UTF-8, UTF-16LE/BE);
//! otherwise the first block is tried as UTF-8 and, failing that, read as GB18030 (a superset
//! of GBK and GB2312). Bytes that are not valid in the chosen encoding stop the file with an
//! error naming the byte offset — never mojibake, never a silent U+FFFD. CRLF and bare CR line
//! endings (Windows, old Mac exports) become LF so rows are counted as a person sees them.

use std::io::{self, Read};

use encoding_rs::{DecoderResult, Encoding, GB18030, UTF_8, UTF_16BE, UTF_16LE};

/// How many bytes are sniffed to detect the encoding and the delimiter.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// The first bytes of a file, its encoding and the length of its byte-order mark (what the CSV
/// and JSON readers both start from). A file that cannot be read fails with its name.
pub fn sniff(
    reader: &mut dyn std::io::Read,
    file: &super::SourceFile,
) -> Result<(Vec<u8>, &'static Encoding, usize), super::FileFailure> {
    use std::io::Read as _;
    let fail = |msg: String| super::FileFailure::in_file(file, crate::contract::Rule::UnreadableFile, msg);
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    reader.take(SNIFF_BYTES as u64).read_to_end(&mut head).map_err(|e| fail(format!("cannot read: {e}")))?;
    let (encoding, bom) = detect(&head, file.options.encoding.as_deref()).map_err(fail)?;
    Ok((head, encoding, bom))
}

/// Pick the encoding: the declared one, a BOM, valid UTF-8, else GB18030. Returns the encoding
/// and how many BOM bytes to skip.
pub fn detect(head: &[u8], declared: Option<&str>) -> Result<(&'static Encoding, usize), String> {
    if let Some(label) = declared {
        let enc = Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| format!("unknown encoding {label:?}"))?;
        // GBK is decoded as GB18030: the same bytes for everything GBK defines, no hole for the rest.
        let enc = if enc == encoding_rs::GBK { GB18030 } else { enc };
        let bom = match Encoding::for_bom(head) {
            Some((e, len)) if e == enc => len,
            _ => 0,
        };
        return Ok((enc, bom));
    }
    if let Some((enc, len)) = Encoding::for_bom(head) {
        return Ok((enc, len));
    }
    if head.len() >= 4 && head.iter().filter(|&&b| b == 0).count() * 4 >= head.len() {
        // UTF-16 without a BOM: NULs are the high bytes of ASCII characters.
        let even_nuls = head.iter().step_by(2).filter(|&&b| b == 0).count();
        let odd_nuls = head.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
        return Ok((if even_nuls > odd_nuls { UTF_16BE } else { UTF_16LE }, 0));
    }
    match std::str::from_utf8(head) {
        Ok(_) => Ok((UTF_8, 0)),
        // An incomplete sequence at the very end of the sniffed block is a cut, not an error.
        Err(e) if e.error_len().is_none() => Ok((UTF_8, 0)),
        Err(_) => Ok((GB18030, 0)),
    }
}

/// A reader that decodes `inner` from `encoding` into UTF-8, failing at the first malformed byte.
pub struct DecodingReader<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    encoding: &'static Encoding,
    input: Box<[u8]>,
    input_start: usize,
    input_end: usize,
    /// Source bytes consumed before `input[0]`, for error offsets.
    offset_of_input: u64,
    skip: usize,
    text: String,
    output: Vec<u8>,
    output_start: usize,
    eof: bool,
    finished: bool,
    pending_cr: bool,
    detected: bool,
}

impl<R: Read> DecodingReader<R> {
    /// Decode `inner`; the first `skip` bytes (a BOM) are consumed without output.
    pub fn new(inner: R, encoding: &'static Encoding, skip: usize) -> Self {
        Self::with_origin(inner, encoding, skip, false)
    }

    /// As [`DecodingReader::new`], saying whether the encoding was detected (for messages).
    pub fn with_origin(inner: R, encoding: &'static Encoding, skip: usize, detected: bool) -> Self {
        DecodingReader {
            inner,
            decoder: encoding.new_decoder_without_bom_handling(),
            encoding,
            input: vec![0; 64 * 1024].into_boxed_slice(),
            input_start: 0,
            input_end: 0,
            offset_of_input: 0,
            skip,
            text: String::new(),
            output: Vec::new(),
            output_start: 0,
            eof: false,
            finished: false,
            pending_cr: false,
            detected,
        }
    }

    /// The encoding being decoded.
    pub fn encoding(&self) -> &'static Encoding {
        self.encoding
    }

    /// Decode the next block of input into `output`. Leaves `output` empty only at the end.
    fn fill(&mut self) -> io::Result<()> {
        self.output.clear();
        self.output_start = 0;
        while self.output.is_empty() && !self.finished {
            if self.input_start == self.input_end && !self.eof {
                self.offset_of_input += self.input_end as u64;
                self.input_start = 0;
                self.input_end = read_full(&mut self.inner, &mut self.input)?;
                self.eof = self.input_end == 0;
                if self.skip > 0 {
                    let s = self.skip.min(self.input_end);
                    self.input_start = s;
                    self.skip -= s;
                }
            }
            let src = &self.input[self.input_start..self.input_end];
            self.text.clear();
            self.text.reserve(
                self.decoder.max_utf8_buffer_length_without_replacement(src.len()).unwrap_or(src.len() * 3 + 16),
            );
            let (result, read) = self.decoder.decode_to_string_without_replacement(src, &mut self.text, self.eof);
            if let DecoderResult::Malformed(bad, after) = result {
                let at = (self.input_start + read) as u64;
                let offset = (self.offset_of_input + at).saturating_sub(after as u64 + bad as u64);
                let message = if self.detected && self.encoding == GB18030 {
                    format!(
                        "the file is neither UTF-8 nor GBK/GB18030: the bytes at offset {offset} are invalid in both (save it as UTF-8, or declare its encoding in the pipeline file)"
                    )
                } else {
                    format!(
                        "the bytes at offset {offset} are not valid {} (if the file is in another encoding, declare it in the pipeline file, e.g. encoding = \"gbk\")",
                        self.encoding.name()
                    )
                };
                return Err(io::Error::new(io::ErrorKind::InvalidData, message));
            }
            self.input_start += read;
            let text = std::mem::take(&mut self.text);
            self.push_normalising_cr(&text);
            self.text = text;
            if self.eof && matches!(result, DecoderResult::InputEmpty) {
                if self.pending_cr {
                    self.output.push(b'\n');
                    self.pending_cr = false;
                }
                self.finished = true;
            }
        }
        Ok(())
    }

    /// Append decoded text with line endings made LF: CRLF and a bare CR both end one line
    /// (the CSV parser then counts lines as a person does), across block boundaries.
    fn push_normalising_cr(&mut self, text: &str) {
        for &b in text.as_bytes() {
            if self.pending_cr {
                if b != b'\n' {
                    self.output.push(b'\n');
                }
                self.pending_cr = false;
            }
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                self.output.push(b);
            }
        }
    }
}

/// Read until `buf` is full or the input ends (small reads from network streams are common).
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl<R: Read> Read for DecodingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.output_start == self.output.len() {
            self.fill()?;
            if self.output.is_empty() {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.output.len() - self.output_start);
        buf[..n].copy_from_slice(&self.output[self.output_start..self.output_start + n]);
        self.output_start += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], declared: Option<&str>) -> Result<String, String> {
        let (enc, skip) = detect(&bytes[..bytes.len().min(SNIFF_BYTES)], declared)?;
        let mut out = String::new();
        DecodingReader::new(bytes, enc, skip).read_to_string(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn utf8_with_and_without_bom() {
        assert_eq!(decode_all("学校,年份\n".as_bytes(), None).unwrap(), "学校,年份\n");
        assert_eq!(decode_all(b"\xEF\xBB\xBFa,b\n", None).unwrap(), "a,b\n");
    }

    #[test]
    fn gbk_is_detected_and_decoded() {
        let (gbk, _, _) = encoding_rs::GBK.encode("学校标识码,在校生数\n2311820001,12\n");
        assert_eq!(decode_all(&gbk, None).unwrap(), "学校标识码,在校生数\n2311820001,12\n");
        assert_eq!(decode_all(&gbk, Some("gbk")).unwrap(), "学校标识码,在校生数\n2311820001,12\n");
    }

    #[test]
    fn utf16_with_bom() {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in "年份,学校\r\n".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(decode_all(&bytes, None).unwrap(), "年份,学校\n");
    }

    #[test]
    fn invalid_bytes_name_their_offset() {
        let mut bytes = b"year,students\n2018,".to_vec();
        bytes.extend_from_slice(&[0xFF, 0xFF]);
        let err = decode_all(&bytes, Some("utf-8")).unwrap_err();
        assert!(err.contains("offset 19"), "{err}");
    }

    #[test]
    fn crlf_and_bare_cr_become_lf() {
        assert_eq!(decode_all(b"a\rb\r\nc\r", None).unwrap(), "a\nb\nc\n");
    }

    #[test]
    fn long_input_crosses_blocks() {
        let line = "学校标识码,在校生数\r\n";
        let text = line.repeat(20_000);
        let expected = text.replace("\r\n", "\n");
        assert_eq!(decode_all(text.as_bytes(), None).unwrap(), expected);
        let (gbk, _, _) = encoding_rs::GBK.encode(&text);
        assert_eq!(decode_all(&gbk, None).unwrap(), expected);
    }
}
