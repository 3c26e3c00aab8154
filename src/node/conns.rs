//! The connection table: slots addressed by generational [`ConnId`]s.
//!
//! A freed slot's generation is bumped before it is reused, so an id held
//! for a closed connection never names its successor: a stale event from
//! the driver simply finds nothing.

/// A connection handle. The generation makes a reused index a new id, so a
/// stale event for a closed connection can never reach its successor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    pub index: u32,
    pub generation: u32,
}

/// The value is boxed: a slot freed stays allocated (the table never
/// shrinks), and at about 300 bytes a connection, a table grown by a busy
/// moment would keep that many times 300 bytes for good; boxed, a free
/// slot is 16 bytes (about 5 KB a node in the simulator at 1,000 nodes).
#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<Box<T>>,
}

/// Slots of `T` with generational ids, freed slots reused.
#[derive(Debug)]
pub struct ConnTable<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for ConnTable<T> {
    fn default() -> Self {
        ConnTable {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> ConnTable<T> {
    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, id: ConnId) -> Option<&T> {
        let s = self.slots.get(id.index as usize)?;
        if s.generation != id.generation {
            return None;
        }
        s.value.as_deref()
    }

    pub fn get_mut(&mut self, id: ConnId) -> Option<&mut T> {
        let s = self.slots.get_mut(id.index as usize)?;
        if s.generation != id.generation {
            return None;
        }
        s.value.as_deref_mut()
    }

    /// Hints at `id`'s slot (stage 0) or, with its slot in cache, at its
    /// entry (stage 1).
    pub fn prefetch(&self, id: ConnId, stage: u8) {
        let Some(s) = self.slots.get(id.index as usize) else {
            return;
        };
        if stage == 0 {
            crate::prefetch::line(s);
        } else if let Some(v) = s.value.as_deref() {
            crate::prefetch::slice(std::slice::from_ref(v), 4);
        }
    }

    /// Hints at every slot (stage 0) or, with the slots in cache, at the
    /// first `lines` of every entry (stage 1).
    pub fn prefetch_all(&self, stage: u8, lines: usize) {
        if stage == 0 {
            crate::prefetch::slice(&self.slots, 4);
            return;
        }
        for v in self.slots.iter().filter_map(|s| s.value.as_deref()) {
            crate::prefetch::slice(std::slice::from_ref(v), lines);
        }
    }

    pub fn contains(&self, id: ConnId) -> bool {
        self.get(id).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (ConnId, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.value.as_deref().map(|v| {
                (
                    ConnId {
                        index: i as u32,
                        generation: s.generation,
                    },
                    v,
                )
            })
        })
    }

    /// Stores `value` in a free slot (or a new one) and names it.
    pub fn insert(&mut self, value: T) -> ConnId {
        self.len += 1;
        if let Some(i) = self.free.pop() {
            let s = &mut self.slots[i as usize];
            s.value = Some(Box::new(value));
            return ConnId {
                index: i,
                generation: s.generation,
            };
        }
        self.slots.push(Slot {
            generation: 0,
            value: Some(Box::new(value)),
        });
        ConnId {
            index: self.slots.len() as u32 - 1,
            generation: 0,
        }
    }

    /// Takes the entry out; its id (and every copy of it) is dead from now.
    pub fn remove(&mut self, id: ConnId) -> Option<T> {
        let s = self.slots.get_mut(id.index as usize)?;
        if s.generation != id.generation {
            return None;
        }
        let v = s.value.take()?;
        s.generation = s.generation.wrapping_add(1);
        self.free.push(id.index);
        self.len -= 1;
        Some(*v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_slot_is_a_new_id() {
        let mut t = ConnTable::default();
        let a = t.insert("a");
        assert_eq!(t.remove(a), Some("a"));
        let b = t.insert("b");
        assert_eq!(a.index, b.index, "the slot is reused");
        assert_ne!(a, b);
        assert_eq!(t.get(a), None, "the old id finds nothing");
        assert_eq!(t.remove(a), None);
        assert_eq!(t.get(b), Some(&"b"));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn iter_names_every_live_entry() {
        let mut t = ConnTable::default();
        let ids: Vec<ConnId> = (0..5).map(|i| t.insert(i)).collect();
        t.remove(ids[1]);
        t.remove(ids[3]);
        let seen: Vec<(ConnId, i32)> = t.iter().map(|(id, v)| (id, *v)).collect();
        assert_eq!(seen, vec![(ids[0], 0), (ids[2], 2), (ids[4], 4)]);
        assert!(t.get_mut(ids[4]).is_some());
        assert!(!t.contains(ids[3]));
    }
}
