//! Runs core work and settles a Promise with it: the value converted on the
//! JS thread, or the core error as a JS error.

use std::future::Future;
use std::task::{Context, Poll, Waker};

use napi::Env;
use napi::bindgen_prelude::{PromiseRaw, ToNapiValue, within_runtime_if_available};

use crate::errors::js_error;

/// A Promise of `work`'s value, converted by `convert` on the JS thread.
///
/// `work` is polled once right here: most calls (verify, status) finish on
/// that first poll, and their Promise is made already settled, with no trip
/// through another thread (which costs tens of µs per call). Work that has
/// to wait goes on to napi's runtime and settles the Promise from there.
pub(crate) fn promise<'env, T, V>(
    env: &'env Env,
    work: impl Future<Output = waotp::Result<T>> + Send + 'static,
    convert: impl FnOnce(T) -> V + 'static,
) -> napi::Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
{
    let mut work = Box::pin(work);
    let first =
        within_runtime_if_available(|| work.as_mut().poll(&mut Context::from_waker(Waker::noop())));
    match first {
        Poll::Ready(Ok(value)) => PromiseRaw::resolve(env, convert(value)),
        Poll::Ready(Err(e)) => PromiseRaw::reject(env, js_error(env, &e)),
        Poll::Pending => env
            .spawn_future_with_callback(async move { Ok(work.await) }, move |env, result| {
                result.map(convert).map_err(|e| js_error(env, &e))
            }),
    }
}

/// A value as a settled-at-once Promise, or the error as a rejected one,
/// so that every operation answers the same way.
pub(crate) fn ready<'env, V: ToNapiValue + Send + 'static>(
    env: &'env Env,
    result: waotp::Result<V>,
) -> napi::Result<PromiseRaw<'env, V>> {
    promise(env, async move { result }, |v| v)
}
