//! Face (c): configfs-tsm over FUSE (see module docs once implemented).
