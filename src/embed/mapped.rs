//! Large files read once, through a memory map that hands its pages back as it goes: model
//! weights (copied into the model), the model's files for their hash (the cache key), and shard
//! files (copied into the search's window).
//!
//! A mapping keeps every page it has touched in the process's resident memory until it is
//! dropped, so a file read whole through one counts twice at the peak: its pages and the copy
//! made of them (a 2.4 GB checkpoint made a 4.7 GB peak). Read a block at a time, each block's
//! pages handed back once it is copied, the peak is the copy plus one block; the pages stay in
//! the kernel's page cache for the next reader. A reader with long work between its blocks (the
//! search of a shard's chunk) asks for the next one first ([`MappedFile::will_need`]), so that
//! the disk reads it meanwhile.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// How much of a file is resident at once while it is read in blocks.
pub const BLOCK: usize = 64 << 20;

/// Bytes per read-ahead advice ([`MappedFile::will_need`]).
#[cfg(unix)]
const ADVICE_STEP: usize = 128 << 10;

pub struct MappedFile {
    /// Shared with the threads that give read-ahead advice ([`MappedFile::will_need`]).
    map: Arc<memmap2::Mmap>,
}

impl MappedFile {
    pub fn open(path: &Path) -> std::io::Result<MappedFile> {
        let file = std::fs::File::open(path)?;
        // SAFETY: the file is only read. A file rewritten meanwhile by another process gives
        // wrong bytes, as with every memory-mapped reader (model files are not rewritten;
        // shards are renamed into place, so a new one is a new file).
        let map = unsafe { memmap2::Mmap::map(&file) }?;
        Ok(MappedFile { map: Arc::new(map) })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Calls `f` with each piece of `range` of at most `block` bytes, in order, and its offset
    /// in `range`; the piece's pages are handed back once `f` returns.
    pub fn read_blocks(
        &self,
        range: Range<usize>,
        block: usize,
        mut f: impl FnMut(usize, &[u8]),
    ) -> std::io::Result<()> {
        for at in (range.start..range.end).step_by(block.max(1)) {
            let end = range.end.min(at + block.max(1));
            f(at - range.start, &self.map[at..end]);
            self.hand_back(at..end)?;
        }
        Ok(())
    }

    /// Asks the kernel to start reading `range` of the file into its page cache and returns
    /// without waiting, so that reading it later, after other work, finds it there instead of
    /// waiting on the disk page by page. The pages do not enter this process's resident memory.
    /// Best effort: where the advice is not taken, reading is only not sped up.
    pub fn will_need(&self, range: Range<usize>) {
        let range = range.start.min(self.map.len())..range.end.min(self.map.len());
        #[cfg(unix)]
        if !range.is_empty() {
            let map = Arc::clone(&self.map);
            // Linux reads at most its read-ahead window per advice (`read_ahead_kb`, 128 KiB by
            // default, or the device's largest request if larger), so a long range is advised a
            // step at a time; and an advice waits while the disk's queue is full (a 256 MiB
            // range took 0.2 s), so a thread of its own gives it.
            let advise = move || {
                for at in range.clone().step_by(ADVICE_STEP) {
                    let _ = map.advise_range(memmap2::Advice::WillNeed, at, ADVICE_STEP.min(range.end - at));
                }
            };
            // A thread that cannot start leaves the reading as it was.
            let _ = std::thread::Builder::new().name("read-ahead".into()).spawn(advise);
        }
        #[cfg(not(unix))]
        let _ = range;
    }

    /// [`MappedFile::read_blocks`] over records of `rec` bytes: each piece holds whole records
    /// (as many as `block` bytes hold, at least one), and `f` gets the index in `range` of its
    /// first record.
    pub fn read_records(
        &self,
        range: Range<usize>,
        rec: usize,
        block: usize,
        mut f: impl FnMut(usize, &[u8]),
    ) -> std::io::Result<()> {
        let rec = rec.max(1);
        self.read_blocks(range, (block / rec).max(1) * rec, |at, piece| f(at / rec, piece))
    }

    /// Hands the pages of `range` back to the kernel: they leave this process's resident
    /// memory, and a later read of them (a neighbouring tensor sharing a page) reads the file's
    /// bytes again from the page cache.
    pub fn hand_back(&self, range: Range<usize>) -> std::io::Result<()> {
        // SAFETY: no slice of the map is held across this call; a shared read-only file
        // mapping's pages, once handed back, read the file again on the next access.
        #[cfg(unix)]
        unsafe { self.map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, range.start, range.len()) }?;
        #[cfg(not(unix))]
        let _ = range;
        Ok(())
    }
}

/// The resident size (KiB) of the mapping that begins at `at`, from /proc/self/smaps.
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn resident_kib(at: *const u8) -> usize {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let start = format!("{:x}-", at as usize);
    let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&start));
    assert!(lines.next().is_some(), "no mapping at {start}");
    let rss = lines.find_map(|l| l.strip_prefix("Rss:")).unwrap();
    rss.trim().trim_end_matches("kB").trim().parse().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_the_range_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bytes");
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let file = MappedFile::open(&path).unwrap();
        for (range, block) in [(0..10_000, 4096), (13..9_999, 1000), (5..6, 64), (7..7, 64)] {
            let mut got = Vec::new();
            let mut offsets = Vec::new();
            file.read_blocks(range.clone(), block, |at, piece| {
                assert!(piece.len() <= block);
                offsets.push(at);
                got.extend_from_slice(piece);
            })
            .unwrap();
            assert_eq!(got, bytes[range.clone()], "{range:?} in {block}");
            assert_eq!(offsets, (0..range.len()).step_by(block).collect::<Vec<_>>());
        }
    }

    /// The size of a memory page.
    #[cfg(target_os = "linux")]
    fn page() -> usize {
        // SAFETY: a plain query.
        unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
    }

    /// How many of the pages of `len` bytes at `at` are in the kernel's page cache.
    #[cfg(target_os = "linux")]
    fn pages_in_cache(at: *const u8, len: usize) -> usize {
        let mut pages = vec![0u8; len.div_ceil(page())];
        // SAFETY: `at..at + len` is a live mapping; the vector holds a byte per page.
        assert_eq!(unsafe { libc::mincore(at as *mut libc::c_void, len, pages.as_mut_ptr()) }, 0);
        pages.iter().filter(|&&p| p & 1 == 1).count()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn advised_pages_come_into_the_page_cache_not_into_the_process() {
        use std::os::fd::AsRawFd;
        // Beside the test binary: a disk, where /tmp may be a tmpfs whose pages never leave.
        let exe = std::env::current_exe().unwrap();
        let dir = tempfile::tempdir_in(exe.parent().unwrap()).unwrap();
        let path = dir.path().join("bytes");
        let len = 8 << 20;
        let f = std::fs::File::create(&path).unwrap();
        std::io::Write::write_all(&mut &f, &vec![3u8; len]).unwrap();
        f.sync_all().unwrap();
        // SAFETY: a plain call on an open descriptor: the file's clean pages leave the page cache.
        assert_eq!(unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) }, 0);
        let file = MappedFile::open(&path).unwrap();
        let at = file.bytes().as_ptr();
        if pages_in_cache(at, len) > 0 {
            eprintln!("advised_pages_…: this file system keeps every page cached (tmpfs?); nothing to see");
            return;
        }
        // Out-of-range ends are cut to the file.
        file.will_need(len..len + 100);
        file.will_need(0..len / 2 + 1);
        let half = len / 2 / page();
        let clock = std::time::Instant::now();
        while pages_in_cache(at, len / 2) < half && clock.elapsed().as_secs() < 10 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(pages_in_cache(at, len / 2), half, "the advised half in the page cache");
        assert!(
            pages_in_cache(at, len) <= half + (256 << 10) / page(),
            "far past the advised range: {}",
            pages_in_cache(at, len)
        );
        assert!(resident_kib(at) < 256, "{} KiB resident in the process", resident_kib(at));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pages_read_in_blocks_do_not_stay_resident() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bytes");
        std::fs::write(&path, vec![1u8; 16 << 20]).unwrap();
        let file = MappedFile::open(&path).unwrap();
        let at = file.bytes().as_ptr();
        let mut sum = 0usize;
        file.read_blocks(0..16 << 20, 1 << 20, |_, piece| sum += piece.iter().map(|&b| b as usize).sum::<usize>())
            .unwrap();
        assert_eq!(sum, 16 << 20);
        assert!(resident_kib(at) < 1024, "{} KiB resident", resident_kib(at));
        // What the check reads: pages read and not handed back stay.
        std::hint::black_box(file.bytes().iter().step_by(4096).map(|&b| b as usize).sum::<usize>());
        assert!(resident_kib(at) >= 16 << 10, "{} KiB resident after reading every page", resident_kib(at));
    }
}
