//! Lets the napi CLI regenerate `index.d.ts` (it forces a rebuild through
//! environment variables this declares) and links the addon so that it is
//! never unloaded while tokio threads may still run its code.

fn main() {
    napi_build::setup();
}
