from harness import Agent, Context, Envelope

inventory = Agent("inventory", "1.0.0", consumes=["order.placed@1"], emits=["order.reserved@1"])

@inventory.handler
async def reserve(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    if p["quantity"] > 10:
        await ctx.outcome("declined", "not enough stock")
        return
    ctx.emit("order.reserved", {**p, "warehouse": "wh-1"})

shipping = Agent("shipping", "1.0.0", consumes=["order.reserved@1"])

@shipping.handler
async def ship(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    await ctx.effect("shipment", {"order_id": p["order_id"], "warehouse": p["warehouse"]})
    await ctx.outcome("completed")
