//! The Linux /dev/sev-guest ioctl ABI (include/uapi/linux/sev-guest.h).
