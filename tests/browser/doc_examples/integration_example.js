const response = await fetch(
'https://api.rollyy.com/v1/payments/create-intent',
{
method: 'POST',
headers: {
'Content-Type': 'application/json',
'X-API-Key': 'test-api-key-123'
},
body: JSON.stringify({
amount: 3.50,
currency: 'usd',
booking_id: 'your-booking-id'
})
}
);

const {client_secret, payment_intent_id} = await response.json();

// Complete payment with Stripe.js
const stripe = Stripe('pk_test_...');
const result = await stripe.confirmCardPayment(client_secret, {
payment_method: {
card: cardElement,
billing_details: {name: 'John Doe'}
}
});

if (result.error) {
console.error('Payment failed:', result.error.message);
} else {
console.log('Payment succeeded:', result.paymentIntent.id);
}
