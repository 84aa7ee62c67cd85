import requests

response = requests.post(
'https://api.rollyy.com/v1/payments/create-intent',
headers={'X-API-Key': 'test-api-key-123'},
json={
'amount': 3.50,
'currency': 'usd',
'booking_id': 'your-booking-id'
}
)

data = response.json()
client_secret = data['client_secret']
payment_intent_id = data['payment_intent_id']
