//! Runs core work on napi's tokio runtime and settles a Promise with it:
//! the value converted on the JS thread, or the core error as a JS error.

use std::future::Future;

use napi::Env;
use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};

use crate::errors::js_error;

/// A Promise of `work`'s value, converted by `convert` on the JS thread.
pub(crate) fn promise<'env, T, V>(
    env: &'env Env,
    work: impl Future<Output = waotp::Result<T>> + Send + 'static,
    convert: impl FnOnce(T) -> V + 'static,
) -> napi::Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
{
    env.spawn_future_with_callback(async move { Ok(work.await) }, move |env, result| {
        result.map(convert).map_err(|e| js_error(env, &e))
    })
}

/// A value as a settled-at-once Promise, or the error thrown as a JS error,
/// so that every operation answers the same way.
pub(crate) fn ready<'env, V: ToNapiValue + Send + 'static>(
    env: &'env Env,
    result: waotp::Result<V>,
) -> napi::Result<PromiseRaw<'env, V>> {
    promise(env, async move { result }, |v| v)
}
