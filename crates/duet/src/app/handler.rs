//! Handlers: async functions whose arguments are extractors and whose
//! return value converts into a response.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::body::Body;
use super::extract::{FromRequest, FromRequestParts, RequestHead};
use super::response::{IntoResponse, Response};

/// A boxed future answering one request.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response> + Send + 'static>>;

/// An async function usable as a route handler. `T` lists its extractor
/// types; users never name it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a duet handler",
    label = "not a handler",
    note = "a handler is an `async fn` (or a closure returning a `Send` future) that is `Clone + Send + Sync + 'static`, takes at most 16 arguments — any number implementing `FromRequestParts` (`Path<T>`, `Query<T>`, `State<T>`, `Extension<T>`, `RequestContext`, `ConnContext`, `HeaderMap`, …), then at most one implementing `FromRequest` (`Json<T>`, `Form<T>`, `Bytes`, `String`, `Body`), last — and returns something implementing `IntoResponse`",
    note = "a future that is not `Send` (an `Rc` or a `MutexGuard` held across an `.await`) also gives this error"
)]
pub trait Handler<T>: Clone + Send + Sync + 'static {
    /// Whether answering reads the request's header fields: an HTTP/1.1
    /// request's headers are built into a `HeaderMap` only for handlers
    /// that do. `true` unless every extractor says it reads none.
    #[doc(hidden)]
    const READS_HEADERS: bool = true;

    /// Whether answering reads the path parameters: they are collected
    /// only for handlers that do. `true` unless every extractor says it
    /// reads none.
    #[doc(hidden)]
    const READS_PARAMS: bool = true;

    /// Answers one request.
    fn call(&self, head: RequestHead, body: Body) -> ResponseFuture;
}

impl<F, Fut, R> Handler<()> for F
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoResponse,
{
    const READS_HEADERS: bool = false;
    const READS_PARAMS: bool = false;

    fn call(&self, _head: RequestHead, _body: Body) -> ResponseFuture {
        let fut = self();
        Box::pin(async move { fut.await.into_response() })
    }
}

macro_rules! impl_handler {
    ([$($ty:ident),*], $last:ident) => {
        #[allow(non_snake_case, unused_variables)]
        impl<F, Fut, R, M, $($ty,)* $last> Handler<(M, $($ty,)* $last,)> for F
        where
            F: Fn($($ty,)* $last) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoResponse,
            $($ty: FromRequestParts,)*
            $last: FromRequest<M>,
        {
            const READS_HEADERS: bool =
                $($ty::READS_HEADERS ||)* <$last as FromRequest<M>>::READS_HEADERS;
            const READS_PARAMS: bool =
                $($ty::READS_PARAMS ||)* <$last as FromRequest<M>>::READS_PARAMS;

            fn call(&self, head: RequestHead, body: Body) -> ResponseFuture {
                let f = self.clone();
                Box::pin(async move {
                    $(
                        let $ty = match $ty::from_request_parts(&head).await {
                            Ok(v) => v,
                            Err(e) => return e.into_response(),
                        };
                    )*
                    let $last = match $last::from_request(head, body).await {
                        Ok(v) => v,
                        Err(e) => return e.into_response(),
                    };
                    f($($ty,)* $last).await.into_response()
                })
            }
        }
    };
}

impl_handler!([], T1);
impl_handler!([T1], T2);
impl_handler!([T1, T2], T3);
impl_handler!([T1, T2, T3], T4);
impl_handler!([T1, T2, T3, T4], T5);
impl_handler!([T1, T2, T3, T4, T5], T6);
impl_handler!([T1, T2, T3, T4, T5, T6], T7);
impl_handler!([T1, T2, T3, T4, T5, T6, T7], T8);
impl_handler!([T1, T2, T3, T4, T5, T6, T7, T8], T9);
impl_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9], T10);
impl_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10], T11);
impl_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11], T12);
impl_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12], T13);
impl_handler!(
    [T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13],
    T14
);
impl_handler!(
    [T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14],
    T15
);
impl_handler!(
    [T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15],
    T16
);

/// A handler with its extractor types erased, shareable across servers.
pub(crate) type BoxedHandler = Arc<dyn ErasedHandler>;

pub(crate) trait ErasedHandler: Send + Sync + 'static {
    fn call(&self, head: RequestHead, body: Body) -> ResponseFuture;
    /// [`Handler::READS_HEADERS`].
    fn reads_headers(&self) -> bool;
    /// [`Handler::READS_PARAMS`].
    fn reads_params(&self) -> bool;
}

struct Erased<H, T> {
    handler: H,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<H: Handler<T>, T: 'static> ErasedHandler for Erased<H, T> {
    fn call(&self, head: RequestHead, body: Body) -> ResponseFuture {
        self.handler.call(head, body)
    }
    fn reads_headers(&self) -> bool {
        H::READS_HEADERS
    }
    fn reads_params(&self) -> bool {
        H::READS_PARAMS
    }
}

pub(crate) fn boxed<H: Handler<T>, T: 'static>(handler: H) -> BoxedHandler {
    Arc::new(Erased {
        handler,
        _t: std::marker::PhantomData,
    })
}
