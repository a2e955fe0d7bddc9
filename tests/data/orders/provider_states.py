from harness import Envelope, Producer, ProviderStates

states = ProviderStates()

@states.state("inventory", "an order for 2 units was placed")
def placed(params):
    order = {"order_id": "ord-1", "sku": "sku-1", "quantity": params.get("quantity", 2)}
    return Envelope.ingress(type="order.placed", schema_version=1, payload=order,
                            correlation_id=order["order_id"], producer=Producer("shop", "1"))
