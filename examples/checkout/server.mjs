// The reference checkout's app backend: the smallest real integration of the payments API.
// It holds the API key (the document: never in client code) and gives the page three routes:
//
//   GET  /api/availability?date=YYYY-MM-DD   the asset's free 30-minute slots that day
//   POST /api/book-and-pay {start_time, end_time} or {booking_id}
//                                            books the slot (or takes the booking back, to pay
//                                            again after a decline), then creates its
//                                            PaymentIntent with the document's own fetch:
//                                            {booking_id, client_secret, payment_intent_id}
//   GET  /api/bookings/:id                   the booking's payment_status (set by the webhook)
//
// and the static page (public/index.html), with the Stripe.js URL and publishable key filled in.
// No dependencies: Node 18+ (global fetch). See README.md for the variables.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';

const env = (name, fallback) => process.env[name] || fallback;
const API_BASE = env('API_BASE', 'http://127.0.0.1:3000').replace(/\/$/, '');
const API_KEY = env('API_KEY', 'test-api-key-123');
const STRIPE_JS_URL = env('STRIPE_JS_URL', 'http://127.0.0.1:8420/v3/');
const STRIPE_PUBLISHABLE_KEY = env('STRIPE_PUBLISHABLE_KEY', 'pk_test_local_stack');
const ASSET_ID = env('ASSET_ID', '550e8400-e29b-41d4-a716-446655440000');
const ASSET_TYPE = env('ASSET_TYPE', 'charging_station');
const USER_ID = env('USER_ID', '650e8400-e29b-41d4-a716-446655440001');
const AMOUNT = Number(env('AMOUNT', '3.50'));
const CURRENCY = env('CURRENCY', 'usd');
const HOST = env('HOST', '127.0.0.1');
const PORT = Number(env('PORT', '3001'));
const SLOT_MINUTES = 30;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// The API, with the key: only here, on the server.
async function api(method, path, body) {
  const response = await fetch(`${API_BASE}${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', 'X-API-Key': API_KEY },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try { json = JSON.parse(text); } catch { json = { detail: text || response.statusText }; }
  return { status: response.status, json };
}

// The document's JavaScript example (Step 2), with the base URL and the booking id as variables.
async function createIntent(bookingId) {
  const response = await fetch(
    `${API_BASE}/v1/payments/create-intent`,
    {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-API-Key': API_KEY
      },
      body: JSON.stringify({
        amount: AMOUNT,
        currency: CURRENCY,
        booking_id: bookingId
      })
    }
  );
  const json = await response.json();
  if (!response.ok) return { status: response.status, json };
  const {client_secret, payment_intent_id} = json;
  return { status: 200, json: { booking_id: bookingId, client_secret, payment_intent_id } };
}

async function availability(url) {
  const date = url.searchParams.get('date') || new Date().toISOString().slice(0, 10);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return { status: 400, json: { detail: 'date must be YYYY-MM-DD' } };
  const from = `${date}T00:00:00Z`;
  const to = new Date(Date.parse(from) + 86400000).toISOString().replace('.000Z', 'Z');
  const got = await api('GET', `/v1/assets/${ASSET_ID}/availability?from=${from}&to=${to}`);
  if (got.status !== 200) return got;
  const busy = got.json.busy.map((b) => [Date.parse(b.start_time), Date.parse(b.end_time)]);
  const slots = [];
  for (let t = Date.parse(from); t < Date.parse(to); t += SLOT_MINUTES * 60000) {
    const end = t + SLOT_MINUTES * 60000;
    if (busy.some(([s, e]) => s < end && t < e)) continue;
    slots.push({ start_time: new Date(t).toISOString(), end_time: new Date(end).toISOString() });
  }
  return { status: 200, json: { asset_id: ASSET_ID, date, amount: AMOUNT, currency: CURRENCY, slots } };
}

async function bookAndPay(body) {
  if (body.booking_id !== undefined) {
    if (typeof body.booking_id !== 'string' || !UUID.test(body.booking_id)) {
      return { status: 400, json: { detail: 'booking_id must be a UUID' } };
    }
    return createIntent(body.booking_id);
  }
  const booked = await api('POST', '/v1/bookings', {
    asset_id: ASSET_ID,
    asset_type: ASSET_TYPE,
    user_id: USER_ID,
    start_time: body.start_time,
    end_time: body.end_time,
  });
  if (booked.status !== 201) return booked;
  return createIntent(booked.json.id);
}

async function bookingStatus(id) {
  if (!UUID.test(id)) return { status: 400, json: { detail: 'booking id must be a UUID' } };
  const got = await api('GET', `/v1/bookings/${id}`);
  if (got.status !== 200) return got;
  const b = got.json;
  return {
    status: 200,
    json: {
      id: b.id, status: b.status, start_time: b.start_time, end_time: b.end_time,
      payment_status: b.payment_status, payment_failure_reason: b.payment_failure_reason,
      payment_intent_id: b.payment_intent_id,
    },
  };
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  try { return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}'); } catch { return null; }
}

async function page() {
  const html = await readFile(new URL('./public/index.html', import.meta.url), 'utf8');
  const attr = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  return html.replace('{{STRIPE_JS_URL}}', attr(STRIPE_JS_URL))
    .replace('{{STRIPE_PUBLISHABLE_KEY}}', attr(STRIPE_PUBLISHABLE_KEY));
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, `http://${req.headers.host || 'localhost'}`);
  const send = (status, body, type = 'application/json') => {
    res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
    res.end(type === 'application/json' ? JSON.stringify(body) : body);
  };
  try {
    if (req.method === 'GET' && (url.pathname === '/' || url.pathname === '/index.html')) {
      return send(200, await page(), 'text/html; charset=utf-8');
    }
    let answer;
    if (req.method === 'GET' && url.pathname === '/api/availability') {
      answer = await availability(url);
    } else if (req.method === 'POST' && url.pathname === '/api/book-and-pay') {
      const body = await readJson(req);
      answer = body && typeof body === 'object' ? await bookAndPay(body) : { status: 400, json: { detail: 'JSON body expected' } };
    } else if (req.method === 'GET' && url.pathname.startsWith('/api/bookings/')) {
      answer = await bookingStatus(decodeURIComponent(url.pathname.slice('/api/bookings/'.length)));
    } else {
      answer = { status: 404, json: { detail: 'Not found' } };
    }
    send(answer.status, answer.json);
  } catch (err) {
    console.error('checkout:', err.message);
    send(502, { detail: 'The payments API could not be reached' });
  }
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  console.log(`checkout: http://${HOST}:${port}/ (API ${API_BASE}, Stripe.js ${STRIPE_JS_URL})`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
