//! An arena of byte chunks for the in-memory session store: records packed
//! side by side, each with its key, so that one session costs no heap
//! allocation of its own and sparse chunks can be walked and compacted.
//!
//! An entry is a 7-byte header (a dead flag, the key's length as a `u16`
//! and the record's length as a `u32`, little-endian), then the key, then
//! the record. Entries are never moved while live except by [`Arena::compact`],
//! which tells the caller each new place.

/// Bytes in one ordinary chunk.
pub(super) const CHUNK_SIZE: usize = 256 * 1024;

/// Bytes of an entry's header: the dead flag, the key's and the record's lengths.
pub(super) const HEADER: usize = 7;

/// Where one entry lies: its chunk and the offset of its header there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Slot {
    /// Index of the chunk in [`Arena::chunks`].
    chunk: u32,
    /// Offset of the entry's header in the chunk.
    offset: u32,
}

/// One chunk: entries packed from the start.
struct Chunk {
    /// The entries (its capacity is the chunk's size).
    data: Vec<u8>,
    /// Bytes of live entries, headers included.
    live: usize,
    /// Whether it waits in [`Arena::sparse`] to be compacted.
    queued: bool,
}

impl Chunk {
    /// An empty chunk of `size` bytes.
    fn new(size: usize) -> Self {
        Self {
            data: Vec::with_capacity(size),
            live: 0,
            queued: false,
        }
    }

    /// Whether less than half its bytes are live.
    fn is_sparse(&self) -> bool {
        self.live < self.data.capacity() / 2
    }
}

/// The lengths an entry's header records.
#[derive(Clone, Copy)]
struct Header {
    /// Whether the entry was released.
    dead: bool,
    /// The key's length.
    key: usize,
    /// The record's length.
    record: usize,
}

impl Header {
    /// The header at the start of `bytes`, if there is one.
    fn read(bytes: &[u8]) -> Option<Self> {
        let header = bytes.get(..HEADER)?;
        let dead = *header.first()? != 0;
        let key = u16::from_le_bytes(header.get(1..3)?.try_into().ok()?);
        let record = u32::from_le_bytes(header.get(3..7)?.try_into().ok()?);
        Some(Self {
            dead,
            key: usize::from(key),
            record: usize::try_from(record).ok()?,
        })
    }

    /// The entry's whole length, header included.
    fn len(self) -> usize {
        HEADER + self.key + self.record
    }
}

/// Records packed into chunks. One chunk at a time is filled; a chunk that
/// falls below half live bytes is queued, and [`Arena::compact`] moves its
/// live entries into the chunk being filled and frees it. A record larger
/// than a quarter chunk gets a chunk of its own, freed with it.
pub(super) struct Arena {
    /// The chunks by index; `None` is a freed index, reused first.
    chunks: Vec<Option<Chunk>>,
    /// Freed indices in `chunks`.
    free: Vec<u32>,
    /// The chunk being filled, if any.
    active: Option<u32>,
    /// Chunks other than the active one holding less than half live bytes.
    sparse: Vec<u32>,
    /// Bytes of an ordinary chunk.
    chunk_size: usize,
    /// Bytes of all chunks (their capacities).
    allocated: usize,
    /// Bytes of live entries, headers included.
    live: usize,
    /// Chunks compacted so far, for the tests.
    #[cfg(test)]
    compacted: usize,
}

impl Arena {
    /// An empty arena of chunks of `chunk_size` bytes.
    pub(super) fn new(chunk_size: usize) -> Self {
        Self {
            chunks: Vec::new(),
            free: Vec::new(),
            active: None,
            sparse: Vec::new(),
            chunk_size: chunk_size.max(HEADER),
            allocated: 0,
            live: 0,
            #[cfg(test)]
            compacted: 0,
        }
    }

    /// Bytes of all chunks.
    #[cfg(test)]
    pub(super) fn allocated(&self) -> usize {
        self.allocated
    }

    /// Bytes of live entries, headers included.
    #[cfg(test)]
    pub(super) fn live(&self) -> usize {
        self.live
    }

    /// Stores `record` under `key` and returns its slot; `None` when the key
    /// is longer than 65 535 bytes or the record longer than `u32::MAX`.
    pub(super) fn push(&mut self, key: &[u8], record: &[u8]) -> Option<Slot> {
        let key_len = u16::try_from(key.len()).ok()?;
        let record_len = u32::try_from(record.len()).ok()?;
        let len = HEADER + key.len() + record.len();
        let slot = self.reserve(len)?;
        let chunk = self.chunk_mut(slot.chunk)?;
        chunk.data.push(0);
        chunk.data.extend_from_slice(&key_len.to_le_bytes());
        chunk.data.extend_from_slice(&record_len.to_le_bytes());
        chunk.data.extend_from_slice(key);
        chunk.data.extend_from_slice(record);
        chunk.live += len;
        self.live += len;
        Some(slot)
    }

    /// A slot with room for an entry of `len` bytes at the end of its chunk:
    /// in the active chunk, a new active chunk, or a chunk of its own.
    fn reserve(&mut self, len: usize) -> Option<Slot> {
        if len > self.chunk_size / 4 {
            let chunk = self.allocate(len);
            return Some(Slot { chunk, offset: 0 });
        }
        if let Some(active) = self.active
            && let Some(chunk) = self.chunk(active)
            && chunk.data.capacity() - chunk.data.len() >= len
        {
            let offset = u32::try_from(chunk.data.len()).ok()?;
            return Some(Slot {
                chunk: active,
                offset,
            });
        }
        self.retire_active();
        let active = self.allocate(self.chunk_size);
        self.active = Some(active);
        Some(Slot {
            chunk: active,
            offset: 0,
        })
    }

    /// Stops filling the active chunk: freed if empty, queued if sparse.
    fn retire_active(&mut self) {
        if let Some(active) = self.active.take() {
            self.settle(active);
        }
    }

    /// Frees chunk `index` if it holds nothing live, or queues it for
    /// compaction if it is sparse (the active chunk is left as it is).
    fn settle(&mut self, index: u32) {
        if self.active == Some(index) {
            return;
        }
        let Some(chunk) = self.chunk_mut(index) else {
            return;
        };
        if chunk.live == 0 {
            self.release_chunk(index);
        } else if chunk.is_sparse() && !chunk.queued {
            chunk.queued = true;
            self.sparse.push(index);
        }
    }

    /// A new chunk of `size` bytes; returns its index.
    fn allocate(&mut self, size: usize) -> u32 {
        self.allocated += size;
        let chunk = Chunk::new(size);
        if let Some(index) = self.free.pop()
            && let Some(place) = self.chunks.get_mut(index as usize)
        {
            *place = Some(chunk);
            return index;
        }
        let index = u32::try_from(self.chunks.len()).unwrap_or(u32::MAX);
        self.chunks.push(Some(chunk));
        index
    }

    /// Frees chunk `index`.
    fn release_chunk(&mut self, index: u32) {
        if let Some(place) = self.chunks.get_mut(index as usize)
            && let Some(chunk) = place.take()
        {
            self.allocated -= chunk.data.capacity();
            if chunk.queued {
                self.sparse.retain(|&queued| queued != index);
            }
            self.free.push(index);
        }
    }

    /// The chunk at `index`.
    fn chunk(&self, index: u32) -> Option<&Chunk> {
        self.chunks.get(index as usize)?.as_ref()
    }

    /// The chunk at `index`, mutably.
    fn chunk_mut(&mut self, index: u32) -> Option<&mut Chunk> {
        self.chunks.get_mut(index as usize)?.as_mut()
    }

    /// The live entry at `slot`: its header and its bytes from the header on.
    fn entry(&self, slot: Slot) -> Option<(Header, &[u8])> {
        let bytes = self.chunk(slot.chunk)?.data.get(slot.offset as usize..)?;
        let header = Header::read(bytes)?;
        let bytes = bytes.get(..header.len())?;
        (!header.dead).then_some((header, bytes))
    }

    /// The record stored at `slot`, if it is live and stored under `key`
    /// (checked, so that no fault in the index can return another key's
    /// record).
    pub(super) fn record(&self, slot: Slot, key: &[u8]) -> Option<&[u8]> {
        let (header, bytes) = self.entry(slot)?;
        (bytes.get(HEADER..HEADER + header.key)? == key).then_some(())?;
        bytes.get(HEADER + header.key..)
    }

    /// The key stored at `slot`, if its entry is live.
    pub(super) fn key(&self, slot: Slot) -> Option<&[u8]> {
        let (header, bytes) = self.entry(slot)?;
        bytes.get(HEADER..HEADER + header.key)
    }

    /// Marks the entry at `slot` dead: its chunk is freed once nothing in it
    /// is live, or queued for compaction once less than half is.
    pub(super) fn release(&mut self, slot: Slot) {
        let Some(len) = self.entry(slot).map(|(header, _)| header.len()) else {
            return;
        };
        let Some(chunk) = self.chunk_mut(slot.chunk) else {
            return;
        };
        if let Some(flag) = chunk.data.get_mut(slot.offset as usize) {
            *flag = 1;
        }
        chunk.live -= len;
        self.live -= len;
        self.settle(slot.chunk);
    }

    /// Compacts queued chunks until about `budget` bytes were moved: each
    /// one's live entries go to the active chunk and `moved(key, from, to)`
    /// updates the index (it returns false when the index no longer holds
    /// `key` at `from`, and the copy is released), then the chunk is freed.
    pub(super) fn compact(
        &mut self,
        budget: usize,
        mut moved: impl FnMut(&[u8], Slot, Slot) -> bool,
    ) {
        let mut spent = 0;
        while spent < budget {
            let Some(index) = self.sparse.pop() else {
                break;
            };
            if let Some(chunk) = self.chunk_mut(index) {
                chunk.queued = false;
            }
            spent += self.evacuate(index, &mut moved);
            self.release_chunk(index);
            #[cfg(test)]
            {
                self.compacted += 1;
            }
        }
    }

    /// Moves every live entry of chunk `index` to the active chunk; returns
    /// the bytes moved. The chunk itself is left for the caller to free.
    fn evacuate(&mut self, index: u32, moved: &mut impl FnMut(&[u8], Slot, Slot) -> bool) -> usize {
        let Some(chunk) = self.chunk_mut(index) else {
            return 0;
        };
        // Taken out so that entries can be copied into other chunks; the
        // chunk is freed afterwards, so its accounting is settled here.
        let data = std::mem::take(&mut chunk.data);
        let live = std::mem::take(&mut chunk.live);
        self.allocated -= data.capacity();
        self.live -= live;
        let mut spent = 0;
        let mut offset = 0;
        while let Some(header) = data.get(offset..).and_then(Header::read) {
            let len = header.len();
            let entry = data.get(offset..offset + len);
            if let Some(entry) = entry
                && !header.dead
                && let Some(key) = entry.get(HEADER..HEADER + header.key)
                && let Some(record) = entry.get(HEADER + header.key..)
                && let Some(to) = self.push(key, record)
            {
                spent += len;
                let from = Slot {
                    chunk: index,
                    offset: u32::try_from(offset).unwrap_or(u32::MAX),
                };
                if !moved(key, from, to) {
                    self.release(to);
                }
            }
            offset += len;
        }
        spent
    }

    /// Chunks compacted so far, for the tests.
    #[cfg(test)]
    pub(super) fn compacted(&self) -> usize {
        self.compacted
    }

    /// Queued chunks, for the tests.
    #[cfg(test)]
    pub(super) fn queued(&self) -> usize {
        self.sparse.len()
    }

    /// Chunks held, for the tests.
    #[cfg(test)]
    pub(super) fn chunks(&self) -> usize {
        self.chunks.iter().flatten().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every live entry the arena holds, by walking its chunks.
    fn walk(arena: &Arena) -> usize {
        arena
            .chunks
            .iter()
            .flatten()
            .map(|chunk| {
                let mut offset = 0;
                let mut live = 0;
                while let Some(header) = chunk.data.get(offset..).and_then(Header::read) {
                    if !header.dead {
                        live += header.len();
                    }
                    offset += header.len();
                }
                assert_eq!(offset, chunk.data.len(), "entries tile the chunk");
                assert_eq!(live, chunk.live, "the live count matches the entries");
                live
            })
            .sum()
    }

    #[test]
    fn entries_read_back_and_release_frees_an_emptied_chunk() {
        let mut arena = Arena::new(1_024);
        let a = arena.push(b"a", b"first").expect("push");
        let b = arena.push(b"bb", b"second").expect("push");
        assert_eq!(arena.record(a, b"a"), Some(&b"first"[..]));
        assert_eq!(arena.record(a, b"bb"), None, "the key is checked");
        assert_eq!(arena.key(b), Some(&b"bb"[..]));
        assert_eq!(arena.live(), 2 * HEADER + 1 + 5 + 2 + 6);
        arena.release(a);
        assert_eq!(arena.record(a, b"a"), None, "a released entry is gone");
        arena.release(a);
        assert_eq!(arena.live(), HEADER + 2 + 6, "a second release is a no-op");
        assert_eq!(walk(&arena), arena.live());
        arena.release(b);
        assert_eq!(arena.live(), 0);
        assert_eq!(arena.allocated(), 1_024, "the active chunk stays");
    }

    #[test]
    fn compaction_moves_the_live_entries_and_frees_the_chunk() {
        let mut arena = Arena::new(1_024);
        let slots: Vec<Slot> = (0..40u8)
            .map(|i| arena.push(&[i], &[i; 40]).expect("push"))
            .collect();
        // 48 bytes per entry: 21 per chunk, the first chunk is full.
        assert_eq!(arena.chunks(), 2);
        for slot in slots.iter().take(15) {
            arena.release(*slot);
        }
        assert_eq!(arena.queued(), 1, "the first chunk is sparse");
        let mut moves = Vec::new();
        arena.compact(usize::MAX, |key, from, to| {
            moves.push((key.to_vec(), from, to));
            true
        });
        assert_eq!(arena.queued(), 0);
        assert_eq!(
            moves.len(),
            6,
            "the six live entries of the first chunk moved"
        );
        for (key, from, to) in &moves {
            assert_eq!(slots[usize::from(key[0])], *from);
            assert_eq!(arena.record(*to, key), Some(&[key[0]; 40][..]));
        }
        assert_eq!(walk(&arena), arena.live());
        assert_eq!(arena.live(), 25 * 48);
    }
}
