//! A minimal `lambda_runtime` function: the floor our functions' cold start and memory are
//! compared against (`bench`). It answers every event with an API Gateway proxy response,
//! built with the same release profile as the real functions.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

// The same runtime flavour as the functions, so the floor differs from them only in the handler.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({ "statusCode": 200, "body": "hello" }))
    }))
    .await
}
