internal import CPaysignShims

/// `CK_UNAVAILABLE_INFORMATION` through the shim (a cast macro Swift cannot import).
let CPaysignShims_CK_UNAVAILABLE_INFORMATION_value: UInt = CPaysignShims_CK_UNAVAILABLE_INFORMATION
