// IndexedDB: this browser's device keys (non-extractable CryptoKeys), identity, pins and room keys.
const DB_NAME = "messenger";

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore("kv");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

let opened = null;
const db = () => (opened ||= open());

async function run(mode, action) {
  const store = (await db()).transaction("kv", mode).objectStore("kv");
  return new Promise((resolve, reject) => {
    const request = action(store);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export const get = (key) => run("readonly", (s) => s.get(key));
export const put = (key, value) => run("readwrite", (s) => s.put(value, key));
export const remove = (key) => run("readwrite", (s) => s.delete(key));
