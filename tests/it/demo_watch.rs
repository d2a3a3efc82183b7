//! Watches: event types, bookmarks, 410 Gone, timeouts, and a kube-runtime reflector — fed by
//! kube-runtime's watcher, or by raydar's (`cluster::watch`, the TUI's) — that stays exactly
//! in sync across forced watch cuts and history compaction.

use crate::common::{client, server};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use raydar::demo::DemoUser;
use serde_json::json;
use std::time::Duration;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

#[tokio::test]
async fn watch_delivers_added_modified_deleted_then_a_bookmark_at_timeout() {
    let s = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(client(&s, DemoUser::Admin).await, "ray-dev");
    let rv = cms.list(&ListParams::default()).await.unwrap().metadata.resource_version.unwrap();
    let mut stream = cms.watch(&WatchParams::default().timeout(2), &rv).await.unwrap().boxed();
    cms.create(&PostParams::default(), &cm("w")).await.unwrap();
    cms.patch("w", &PatchParams::default(), &Patch::Merge(json!({"data": {"k": "2"}})))
        .await
        .unwrap();
    cms.delete("w", &DeleteParams::default()).await.unwrap();
    let mut kinds = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(ev) = stream.try_next().await.unwrap() {
            kinds.push(match ev {
                WatchEvent::Added(_) => "ADDED",
                WatchEvent::Modified(_) => "MODIFIED",
                WatchEvent::Deleted(_) => "DELETED",
                WatchEvent::Bookmark(_) => "BOOKMARK",
                WatchEvent::Error(_) => "ERROR",
            });
        }
    })
    .await;
    assert!(ended.is_ok(), "the watch ends at timeoutSeconds");
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]);
}

#[tokio::test]
async fn too_old_resource_version_is_410_inside_the_stream() {
    let s = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(client(&s, DemoUser::Admin).await, "ray-dev");
    let rv = cms.list(&ListParams::default()).await.unwrap().metadata.resource_version.unwrap();
    cms.create(&PostParams::default(), &cm("a")).await.unwrap();
    s.compact();
    let mut stream = cms.watch(&WatchParams::default().timeout(5), &rv).await.unwrap().boxed();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    assert!(stream.try_next().await.unwrap().is_none(), "the stream ends after the 410");
}

#[tokio::test]
async fn watch_from_zero_starts_with_the_current_state_and_honours_selectors() {
    let s = server().await;
    let pods: Api<Pod> = Api::all(client(&s, DemoUser::Admin).await);
    let want = pods
        .list(&ListParams::default().labels("ray.io/node-type=head"))
        .await
        .unwrap()
        .items
        .len();
    let mut stream = pods
        .watch(&WatchParams::default().labels("ray.io/node-type=head").timeout(1), "0")
        .await
        .unwrap()
        .boxed();
    let mut added = 0;
    while let Some(ev) = stream.try_next().await.unwrap() {
        if let WatchEvent::Added(p) = ev {
            assert_eq!(p.metadata.labels.unwrap()["ray.io/node-type"], "head");
            added += 1;
        }
    }
    assert_eq!(added, want);
}

/// The name of the first pod matching `selector`.
async fn first_pod(api: &Api<Pod>, selector: &str) -> String {
    api.list(&ListParams::default().labels(selector)).await.unwrap().items[0]
        .metadata
        .name
        .clone()
        .unwrap()
}

type Snapshot = Vec<(String, String)>;

fn snapshot_of(pods: impl IntoIterator<Item = Pod>) -> Snapshot {
    let mut v: Snapshot = pods
        .into_iter()
        .map(|p| {
            (
                format!(
                    "{}/{}",
                    p.metadata.namespace.unwrap_or_default(),
                    p.metadata.name.unwrap_or_default()
                ),
                p.metadata.resource_version.unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

async fn wait_in_sync(store: &reflector::Store<Pod>, api: &Api<Pod>) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..200 {
        let want = snapshot_of(api.list(&ListParams::default()).await.unwrap().items);
        let have = snapshot_of(store.state().iter().map(|p| (**p).clone()));
        if want == have {
            return Ok(());
        }
        last = format!("store has {} objects, server {}", have.len(), want.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last)
}

#[tokio::test]
async fn reflector_stays_in_sync_across_watch_cuts_and_compaction() {
    stays_in_sync(|api| watcher(api, watcher::Config::default().timeout(30)).boxed()).await;
}

#[tokio::test]
async fn raydars_watcher_stays_in_sync_across_watch_cuts_and_compaction() {
    stays_in_sync(|api| raydar::cluster::watch::watch(api, Default::default()).boxed()).await;
}

type Events = futures::stream::BoxStream<'static, Result<watcher::Event<Pod>, watcher::Error>>;

async fn stays_in_sync(watch: impl FnOnce(Api<Pod>) -> Events) {
    let s = server().await;
    let c = client(&s, DemoUser::Admin).await;
    let api: Api<Pod> = Api::all(c.clone());
    let ns_api: Api<Pod> = Api::namespaced(c, "ray-dev");
    let (store, writer) = reflector::store();
    let task = tokio::spawn(
        watch(api.clone())
            .default_backoff()
            .reflect(writer)
            .applied_objects()
            .for_each(|_| async {}),
    );
    store.wait_until_ready().await.unwrap();
    wait_in_sync(&store, &api).await.unwrap();

    let pod = |n: &str| -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": n}, "spec": {"containers": [{"name": "c", "image": "i"}]}}),
        )
        .unwrap()
    };
    ns_api.create(&PostParams::default(), &pod("r1")).await.unwrap();
    s.cut_watches();
    // Changes while the watch is down must arrive through the resumed watch.
    ns_api.create(&PostParams::default(), &pod("r2")).await.unwrap();
    ns_api
        .patch(
            "r1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}})),
        )
        .await
        .unwrap();
    let victim = first_pod(&api, "ray.io/cluster=cowboy,ray.io/node-type=worker").await;
    assert!(s.delete_pod("ray-dev", &victim));
    wait_in_sync(&store, &api).await.unwrap();

    // A cut with the history gone forces a 410 and a relist.
    s.compact();
    s.cut_watches();
    ns_api.delete("r2", &DeleteParams::default()).await.unwrap();
    let head = first_pod(&api, "ray.io/cluster=notebook,ray.io/node-type=head").await;
    let new_head = s.replace_pod("ray-dev", &head, Duration::from_millis(50)).unwrap();
    wait_in_sync(&store, &api).await.unwrap();
    assert!(store.state().iter().any(|p| p.metadata.name.as_deref() == Some(new_head.as_str())));
    task.abort();
}
