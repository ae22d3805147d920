//! Giving back what only the boot needed. jinit is static: its resident memory is mostly pages
//! of its own binary, which no other process shares, so every page that starting up touched once
//! (the runtime, reading jinit-config's answer, the first spawns) would stay in PID 1's
//! footprint for the container's life. After the
//! boot (and after a re-render) the binary's mappings are paged out (MADV_PAGEOUT, Linux 5.4+:
//! clean file pages, dropped from this process at once and refetched from the page cache on the
//! next use) and the heap's free memory is returned (malloc_trim). Both are hints: an older
//! kernel refuses the first, and the kernel skips page-cache folios that are large or mapped
//! more than once, so how much goes depends on how the binary's pages came into the page cache
//! (measured: 3.3 MB -> 0.4 MB for a binary just written, none once it was read back in large
//! folios). MADV_DONTNEED is no better: the next faults map whole folios again.

use std::io::{BufRead, BufReader};

/// Pages out this executable's mappings and trims the heap. Returns how many bytes of mappings
/// were advised.
pub fn release() -> usize {
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return 0;
    };
    let Ok(maps) = std::fs::File::open("/proc/self/maps") else {
        return 0;
    };
    let mut advised = 0;
    // Lines: "start-end perms offset dev inode path"; at most a few dozen for a static binary.
    for line in BufReader::new(maps)
        .lines()
        .map_while(Result::ok)
        .take(4096)
    {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        // Only file mappings of the binary that are not written (text and read-only data).
        if perms.contains('w') || fields.nth(3).map(std::path::Path::new) != Some(exe.as_path()) {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        if end <= start {
            continue;
        }
        // SAFETY: advice on a range the kernel just listed as mapped in this process; PAGEOUT
        // never changes the contents of a read-only file mapping, only where they reside.
        let rc =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT) };
        if rc == 0 {
            advised += end - start;
        }
    }
    advised
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advises_the_binary_and_keeps_working() {
        // How much leaves RSS depends on the page cache (see above), so only the advice is
        // checked here; bench/run.sh measures the footprint.
        let advised = release();
        assert!(
            advised > 0,
            "the test binary's read-only mappings were found and advised"
        );
        assert_eq!(format!("{}", 6 * 7), "42", "the code still runs");
    }
}
