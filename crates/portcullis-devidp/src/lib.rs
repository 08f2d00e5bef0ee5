//! portcullis-devidp
#![forbid(unsafe_code)]
